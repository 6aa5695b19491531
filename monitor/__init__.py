"""Proctored exam sessions: webcam frames over WebSockets, per-session logs, alerts and live views."""
