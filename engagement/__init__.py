"""Reusable app that turns webcam frames into emotions, engagement scores and recommendations."""
