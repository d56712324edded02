"""Human review of stored detections: staff confirm, correct or reject what the models found and
draw what they missed (docs/review.md). The decisions steer the damage records and grades, and
become training data (`stadtblick train import --source review:...`)."""
