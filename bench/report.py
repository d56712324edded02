"""Targets (PASS/FAIL) and the Markdown + JSON report.

The JSON holds every number for later comparison between runs and machines; the Markdown is
what people read in docs/benchmarks.md. Both come from the same dictionary.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# The targets of the performance issue, on the 2-core reference machine, all from the same run.
E2E_OVERHEAD_MS = 20.0
THROUGHPUT_CLIENTS = 4
THROUGHPUT_FRACTION = 0.90
REFERENCE_SPEEDUP = 3.0
INT8_SPEEDUP = 1.6
INT8_MAP50_TOLERANCE = 0.01
RSS_LIMIT_MB = 400.0


def _target(name: str, status: str, measured: str, detail: str = "") -> dict[str, str]:
    return {"target": name, "status": status, "measured": measured, "detail": detail}


def _na(name: str, why: str) -> dict[str, str]:
    return _target(name, "N/A", "–", why)


def _decode_and_model_ms(raw: dict[str, Any] | None, image: str) -> float | None:
    """What the service cannot go below: the JPEG decoded at reduced size plus the served model
    (in-process p50s of the same run)."""
    if not raw:
        return None
    decode = (raw.get("stages_ms") or {}).get(f"{image}.decode_reduced")
    model = raw["latency_ms"].get(raw["served_variant"])
    return decode["p50_ms"] + model["p50_ms"] if decode and model else None


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """PASS/FAIL/N/A per target and detector; never asserted anywhere, only reported."""
    targets: list[dict[str, str]] = []
    raw = {r["detector"]: r for r in results.get("raw", []) if not r.get("error")}
    service = results.get("service") or {}
    latency = {(r["detector"], r["image"]): r for r in service.get("latency", [])}

    for det, r in raw.items():
        name = f"{det}: end-to-end p50 (1080p JPEG) ≤ raw model + {E2E_OVERHEAD_MS:.0f} ms"
        entry = latency.get((det, "1080p"))
        if entry is None:
            targets.append(_na(name, service.get("error") or "service not measured"))
            continue
        # the raw run interleaved with these requests when there is one (same background load)
        raw_p50 = (entry.get("raw_interleaved_ms") or r["latency_ms"][r["served_variant"]])["p50_ms"]
        e2e = entry["latency_ms"]["p50_ms"]
        ok = e2e <= raw_p50 + E2E_OVERHEAD_MS
        measured = f"{e2e:.1f} ms vs {raw_p50:.1f} + {E2E_OVERHEAD_MS:.0f} ms"
        targets.append(_target(name, "PASS" if ok else "FAIL", measured, f"overhead {e2e - raw_p50:+.1f} ms"))

    for t in service.get("throughput", []):
        det = t["detector"]
        name = f"{det}: throughput with {THROUGHPUT_CLIENTS} clients ≥ {THROUGHPUT_FRACTION:.0%} of raw single-stream"
        level = next((lv for lv in t["levels"] if lv["clients"] == THROUGHPUT_CLIENTS), None)
        ips = t.get("raw_adjacent_images_per_s") or (raw.get(det) or {}).get("single_stream_images_per_s")
        if level is None or not ips:
            targets.append(_na(name, "throughput or raw latency missing"))
            continue
        frac = level["images_per_s"] / ips
        measured = f"{level['images_per_s']:.2f} img/s = {frac:.0%} of {ips:.2f} img/s"
        targets.append(_target(name, "PASS" if frac >= THROUGHPUT_FRACTION else "FAIL", measured))

    for ref in results.get("reference", []):
        det = ref["detector"]
        for image, row in (ref.get("images") or {}).items():
            name = f"{det}: end to end ≥ {REFERENCE_SPEEDUP:.0f}× faster than {ref['kind']} PyTorch ({image})"
            svc = _service_p50(row, latency.get((det, image)))
            if svc is None:
                targets.append(_na(name, "service latency missing"))
                continue
            speedup = row["reference"]["p50_ms"] / svc
            status = "PASS" if speedup >= REFERENCE_SPEEDUP else "FAIL"
            detail = f"{row['reference']['p50_ms']:.1f} ms vs {svc:.1f} ms"
            floor = _decode_and_model_ms(raw.get(det), image)
            if floor:
                detail += f"; bound without any service overhead {row['reference']['p50_ms'] / floor:.2f}×"
            targets.append(_target(name, status, f"{speedup:.2f}×", detail))
        if ref.get("error"):
            targets.append(_na(f"{det}: end to end ≥ {REFERENCE_SPEEDUP:.0f}× faster than PyTorch", ref["error"]))
    if not results.get("reference"):
        targets.append(
            _na(
                f"end to end ≥ {REFERENCE_SPEEDUP:.0f}× faster than PyTorch predict",
                "no reference weights (--reference-pt, or ../shared/weights for coco)",
            )
        )

    int8_rows = results.get("int8", [])
    for row in int8_rows:
        name = f"{row['detector']}: INT8 ≥ {INT8_SPEEDUP}× faster than fp32, mAP50 at most {INT8_MAP50_TOLERANCE} lower"
        speedup, delta = row.get("speedup"), row.get("delta_map50")
        if speedup is None:
            targets.append(_na(name, row.get("error") or "not timed"))
            continue
        measured = f"{speedup:.2f}×, ΔmAP50 {'–' if delta is None else f'{delta:+.4f}'}"
        if delta is None:
            status = "FAIL" if speedup < INT8_SPEEDUP else "N/A"
            targets.append(_target(name, status, measured, row.get("error") or row.get("accuracy_note", "")))
            continue
        ok = speedup >= INT8_SPEEDUP and delta >= -INT8_MAP50_TOLERANCE  # a more accurate INT8 is no loss
        targets.append(_target(name, "PASS" if ok else "FAIL", measured))
    if not int8_rows:
        targets.append(_na(f"INT8 ≥ {INT8_SPEEDUP}× faster than fp32", "no model card lists an int8 file"))

    memory = service.get("memory") or {}
    rss = memory.get("after_warmup_mb") or memory.get("loaded_idle_mb")
    name = f"service RSS with all detectors loaded ≤ {RSS_LIMIT_MB:.0f} MB"
    if rss is None:
        targets.append(_na(name, service.get("error") or "server not measured"))
    else:
        targets.append(
            _target(
                name, "PASS" if rss <= RSS_LIMIT_MB else "FAIL", f"{rss:.0f} MB", "after loading and the first requests"
            )
        )
    return targets


def _service_p50(row: dict[str, Any], sequential: dict[str, Any] | None) -> float | None:
    """The service p50 timed interleaved with the reference, else the sequential latency run's."""
    if "service" in row:
        return row["service"]["p50_ms"]
    return sequential["latency_ms"]["p50_ms"] if sequential else None


def _f(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(m: dict[str, Any], peak: dict[str, Any] | None) -> str:
    v = m["versions"]
    git = m["git"]
    rows = [
        ["CPU", f"{m['cpu_model']} ({m['arch']})"],
        [
            "cores",
            f"{m['usable_cores']} usable, {m['logical_cores']} logical, {m['physical_cores']} physical"
            + (f", cgroup quota {m['cgroup_cpu_quota']}" if m.get("cgroup_cpu_quota") else ""),
        ],
        ["RAM", f"{m['ram_total_gb']} GiB ({m['ram_available_gb']} GiB available at start)"],
        ["load average at start", ", ".join(str(x) for x in m["load_average_at_start"] or []) or "–"],
        ["OS", m["os"]],
        ["versions", ", ".join(f"{k} {val}" for k, val in v.items() if val)],
        ["git commit", f"{git['commit'] or '–'}{' (uncommitted changes)' if git.get('dirty') else ''}"],
    ]
    if peak:
        rows.append(
            [
                "measured peak fp32",
                f"{_f(peak.get('best_gflops'))} GFLOP/s (NumPy {_f(peak['numpy_gflops'])}, "
                f"ONNX Runtime {_f(peak['onnxruntime_gflops'])}; "
                f"{peak['matrix_size']}² matmul, best of {peak['reps']})",
            ]
        )
    return _table(["", ""], rows)


def _raw_section(raw: list[dict[str, Any]]) -> str:
    rows, stage_rows = [], []
    for r in raw:
        if r.get("error"):
            rows.append([r["detector"], "–", "–", "–", "–", "–", "–", "–", f"error: {r['error']}"])
            continue
        gflops = (r.get("flops") or {}).get("gflops")
        for variant, s in r["latency_ms"].items():
            served = " (served)" if variant == r["served_variant"] else ""
            rows.append(
                [
                    r["detector"],
                    "×".join(map(str, r["input_size"])),
                    variant + served,
                    _f(s["p50_ms"]),
                    _f(s["p95_ms"]),
                    _f(gflops, 2),
                    _f(r["latency_floor_ms"]) if variant == "fp32" else "–",
                    _f(1000 / s["p50_ms"], 2),
                    str(s["n"]),
                ]
            )
        for stage, s in r.get("stages_ms", {}).items():
            stage_rows.append([r["detector"], stage, _f(s["p50_ms"]), _f(s["p95_ms"]), str(s["n"])])
    text = _table(["detector", "input (h×w)", "variant", "p50 ms", "p95 ms", "GFLOPs", "floor ms", "img/s", "n"], rows)
    text += (
        "\n\n*floor* = model FLOPs (Conv/Gemm/MatMul, counted from the ONNX graph) ÷ measured peak fp32 "
        "FLOP/s: the latency if every multiply ran at matmul peak. *img/s* = 1000 ÷ p50 (single stream)."
    )
    if stage_rows:
        text += (
            "\n\nIn-process pipeline stages (no HTTP): JPEG decode at full size, decode with libjpeg "
            "DCT scaling (`decode_image(..., target_long_side=input)`, what the service does when no detector tiles "
            "the frame and nothing is stored), and "
            "`OnnxDetector.detect` (letterbox + ONNX Runtime + NMS) on the decoded full-size pixels:\n\n"
        )
        text += _table(["detector", "image.stage", "p50 ms", "p95 ms", "n"], stage_rows)
    return text


def _service_section(service: dict[str, Any], raw: list[dict[str, Any]]) -> str:
    if service.get("error"):
        return f"Not measured: {service['error']}"
    lat_rows = []
    for r in service.get("latency", []):
        s, st = r["latency_ms"], r["server_timing_ms_p50"]
        lat_rows.append(
            [
                r["detector"],
                r["image"],
                _f(r["image_mb"], 2),
                _f(s["p50_ms"]),
                _f(s["p95_ms"]),
                _f((r.get("raw_interleaved_ms") or {}).get("p50_ms")),
                _f(st["decode"]),
                _f(st["detector"]),
                _f(st["total"]),
                _f(r["http_overhead_ms_p50"]),
                str(s["n"]),
            ]
        )
    text = _table(
        [
            "detector",
            "image",
            "MB",
            "p50 ms",
            "p95 ms",
            "raw model p50 (interleaved)",
            "server decode",
            "server detector",
            "server total",
            "HTTP + upload",
            "n",
        ],
        lat_rows,
    )
    text += (
        "\n\nOne client, sequential requests, multipart upload as `curl -F file=@...` sends it. "
        "*server …* columns are medians of the response's `timing_ms`; *HTTP + upload* = client p50 − server "
        "total (connection, multipart parsing, JSON, event loop). *raw model p50* = the served ONNX variant run in the "
        "benchmark process, alternating with the requests."
    )
    ips = {r["detector"]: r.get("single_stream_images_per_s") for r in raw}
    tp_rows = []
    for t in service.get("throughput", []):
        for lv in t["levels"]:
            base = t.get("raw_adjacent_images_per_s") or ips.get(t["detector"])
            tp_rows.append(
                [
                    t["detector"],
                    t["image"],
                    str(lv["clients"]),
                    _f(lv["images_per_s"], 2),
                    _f(lv["images_per_s"] / base * 100, 0, " %") if base else "–",
                    _f(lv["latency_ms"]["p50_ms"]),
                    _f(lv["latency_ms"]["p95_ms"]),
                    _f(lv["server_cpu_s_per_image"], 3),
                    _f(lv["client_cpu_s_per_image"], 3),
                    f"{lv['requests']}" + (f" ({lv['errors']} errors)" if lv["errors"] else ""),
                ]
            )
    text += "\n\n### Throughput\n\n" + _table(
        [
            "detector",
            "image",
            "clients",
            "images/s",
            "of raw single-stream",
            "p50 ms",
            "p95 ms",
            "server CPU s/img",
            "client CPU s/img",
            "requests",
        ],
        tp_rows,
    )
    text += (
        "\n\nThe load generator runs on the same machine and its CPU time (last column) is taken from "
        "the same cores as the server's. *of raw single-stream* compares with back-to-back raw inference timed "
        "right before the load levels."
    )
    return text


def _reference_section(refs: list[dict[str, Any]], service: dict[str, Any]) -> str:
    if not refs:
        return (
            "Not measured: no PyTorch weights given (`--reference-pt NAME=best.pt`; the `coco` detector uses "
            "../shared/weights/yolov5n.pt automatically when present)."
        )
    latency = {(r["detector"], r["image"]): r for r in service.get("latency", [])}
    rows = []
    for ref in refs:
        if ref.get("error"):
            rows.append([ref["detector"], ref["kind"], "–", "–", "–", "–", "–", "–", f"error: {ref['error']}"])
            continue
        for image, row in ref["images"].items():
            stats = row["reference"]
            svc_p50 = _service_p50(row, latency.get((ref["detector"], image)))
            svc_p95 = row["service"]["p95_ms"] if "service" in row else None
            speedup = _f(stats["p50_ms"] / svc_p50, 2, "×") if svc_p50 else "–"
            cells = [_f(stats["p50_ms"]), _f(stats["p95_ms"]), _f(svc_p50), _f(svc_p95), speedup, str(stats["n"])]
            rows.append([ref["detector"], ref["kind"], image, *cells])
    header = ["detector", "reference", "image", "reference p50 ms", "reference p95 ms", "service p50 ms"]
    text = _table([*header, "service p95 ms", "speed-up", "n"], rows)
    return text + (
        "\n\nReference = the PyTorch checkpoint through its own Python pipeline on the same JPEG file "
        "(`YOLO(pt).predict(source=file)` for Ultralytics, the `yolov5` package's AutoShape for the "
        "YOLOv5 COCO checkpoint), CPU, in-process (no HTTP), alternating call by call with a `POST /v1/detect` "
        "of the same file to the running service, so both series see the same background load. The service's "
        "HTTP round trip is included in its numbers, the reference's is not."
    )


def _int8_section(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "Not measured: no model card lists an int8 file."
    table = [
        [
            r["detector"],
            _f(r.get("fp32_p50_ms")),
            _f(r.get("int8_p50_ms")),
            _f(r.get("speedup"), 2, "×"),
            _f(r.get("fp32_map50"), 4),
            _f(r.get("int8_map50"), 4),
            _f(r.get("delta_map50"), 4),
            str(r.get("val_images", "–")),
            r.get("error") or r.get("accuracy_note") or "",
        ]
        for r in rows
    ]
    return _table(
        [
            "detector",
            "fp32 p50 ms",
            "int8 p50 ms",
            "speed-up",
            "fp32 mAP50",
            "int8 mAP50",
            "Δ mAP50",
            "val images",
            "note",
        ],
        table,
    ) + (
        "\n\nLatencies are raw ONNX Runtime, fp32 and int8 interleaved; mAP50 via `training.evaluate.evaluate` "
        "(the service's inference core, Ultralytics validation settings)."
    )


def _memory_section(service: dict[str, Any]) -> str:
    m = service.get("memory") or {}
    if not m:
        return "Not measured."
    rows = [
        ["all detectors loaded, idle", _f(m.get("loaded_idle_mb"), 0, " MB")],
        ["after the latency runs (warm)", _f(m.get("after_warmup_mb"), 0, " MB")],
        ["peak during the throughput test (sampled every 50 ms)", _f(m.get("peak_under_load_sampled_mb"), 0, " MB")],
        ["kernel high-water mark (VmHWM) at the end", _f(m.get("high_water_mark_mb"), 0, " MB")],
    ]
    detectors = ", ".join(
        f"{name} ({state})" if state != "ready" else name
        for name, state in sorted((service.get("ready") or {}).get("detectors", {}).items())
    )
    return _table(["server process RSS", "value"], rows) + f"\n\nDetectors loaded: {detectors or '–'}."


def to_markdown(results: dict[str, Any]) -> str:
    run = results["run"]
    parts = ["# stadtblick benchmarks", ""]
    if run["quick"]:
        parts += [
            "> **Smoke run (`--quick`)**: a handful of iterations per measurement, to check that the harness "
            "works. These numbers are not benchmark results; re-run without `--quick` on an otherwise idle "
            "machine for those.",
            "",
        ]
    load = (results["machine"].get("load_average_at_start") or [0.0])[0]
    cores = results["machine"].get("usable_cores") or 1
    if load > 0.5 * cores:
        parts += [
            f"> **Busy machine**: load average {load} on {cores} cores when the run started; other processes "
            "shared the CPUs, so absolute times are inflated and noisy (ratios of interleaved series less so).",
            "",
        ]
    parts += [
        f"Generated {run['started']} in {run['duration_s']:.0f} s by `{run['command']}`.",
        "",
        "All comparisons are measured in this one run, side by side; latencies are medians (p50) and p95 "
        "after warm-up.",
        "",
        "## Machine",
        "",
        _machine(results["machine"], results.get("peak")),
        "",
        "## Targets",
        "",
        "```",
    ]
    parts += [
        f"{t['status']:4}  {t['target']}: {t['measured']}" + (f"  ({t['detail']})" if t["detail"] else "")
        for t in results["targets"]
    ]
    images = ", ".join(
        f"{i['name']} {i['width']}×{i['height']} ({i['mb']} MB JPEG, from {i['source']})"
        for i in results.get("images", [])
    )
    parts += [
        "```",
        "",
        f"Test images (generated at run time): {images}.",
        "",
        "## 1. Raw model latency (ONNX Runtime) and FLOPs",
        "",
        _raw_section(results.get("raw", [])),
        "",
        "## 2. Service end to end (`POST /v1/detect`)",
        "",
        _service_section(results.get("service") or {}, results.get("raw", [])),
        "",
        "## 3. Reference: Ultralytics / YOLOv5 PyTorch pipeline",
        "",
        _reference_section(results.get("reference", []), results.get("service") or {}),
        "",
        "## 4. INT8 vs fp32",
        "",
        _int8_section(results.get("int8", [])),
        "",
        "## 5. Memory",
        "",
        _memory_section(results.get("service") or {}),
        "",
        "## Reproduce",
        "",
        "```bash",
        "pip install -e '.[train,dev]'   # torch/ultralytics/yolov5 only for the reference and the COCO import",
        "python -m bench --import-coco --out docs/   # full run (minutes): weights/ + the COCO detector from ../shared",
        "python -m bench --reference-pt road_damage=runs/road_damage/weights/best.pt \\",
        "                --val-data road_damage=../shared/datasets/road_damage/data.yaml --out docs/",
        "python -m bench --quick --out /tmp/bench    # smoke run (seconds), as tests/bench does",
        "python -m bench --server-env STADTBLICK_INTRA_OP_THREADS=1 ...   # try a service setting",
        "```",
        "",
        "Run on an otherwise idle machine: a full run takes several minutes of all cores.",
        "",
    ]
    return "\n".join(parts)


def _without_machine_paths(text: str) -> str:
    """Paths relative to the repository, so committed reports name no machine's folders."""
    repo = Path(__file__).resolve().parents[1]
    return text.replace(f"{repo}/", "").replace(f"{repo.parent}/", "../")


def write_report(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "benchmarks.json", out_dir / "benchmarks.md"
    text = json.dumps(results, indent=2, ensure_ascii=False, default=str)
    json_path.write_text(_without_machine_paths(text) + "\n", encoding="utf-8")
    md_path.write_text(_without_machine_paths(to_markdown(results)), encoding="utf-8")
    return md_path, json_path
