// Shared by the web pages: an API key given as PAGE#key=... (a fragment never reaches a server or
// its logs) is kept for this tab only and removed from the address bar.
"use strict";

function apiKey() {
  const match = location.hash.match(/key=([^&]+)/);
  if (match) {
    sessionStorage.setItem("stadtblick.key", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("stadtblick.key");
}

const KEY = apiKey();
const AUTH = KEY ? { Authorization: `Bearer ${KEY}` } : {};

// A JSON API call with the key; throws the service's error message on a 4xx/5xx.
async function call(url, options = {}) {
  const response = await fetch(url, { ...options, headers: { ...AUTH, ...(options.headers || {}) } });
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
  return body;
}
