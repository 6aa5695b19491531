// The exam page: webcam frames every frame-interval seconds over the session's WebSocket; live feedback.
(function () {
  "use strict";
  const root = document.getElementById("exam");
  const video = document.getElementById("video");
  const canvas = document.getElementById("canvas");
  const connection = document.getElementById("connection");
  const cameraMessage = document.getElementById("camera-message");
  const errorBox = document.getElementById("error");
  const intervalMs = Math.max(500, Number(root.dataset.interval) * 1000);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.wsPath;
  let socket = null;
  let retries = 0;
  let ended = false;
  let timer = null;

  const camera = window.EngagementCamera;
  const show = camera.show;

  async function startCamera() {
    if (await camera.start(video, cameraMessage)) {
      timer = setInterval(sendFrame, intervalMs);
    }
  }

  function sendFrame() {
    if (!socket || socket.readyState !== WebSocket.OPEN || !video.videoWidth) { return; }
    socket.send(JSON.stringify({ type: "frame", image: camera.grab(video, canvas, 0.8), timestamp: new Date().toISOString() }));
  }

  function renderAlerts(alerts) {
    const list = document.getElementById("alerts");
    if (!alerts.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = "None";
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...alerts.map(function (a) {
      const li = document.createElement("li");
      li.className = "alert-" + a.severity;
      li.dataset.kind = a.kind;
      li.textContent = a.kind.replace(/_/g, " ") + ": " + a.message;
      return li;
    }));
  }

  function renderAnalysis(msg) {
    const status = document.getElementById("status");
    if (msg.success) {
      show(errorBox, "");
      status.className = "status status-" + msg.engagement_status;
      status.textContent = msg.engagement_status.replace(/_/g, " ");
      document.getElementById("score").textContent = msg.engagement_score.toFixed(1);
      document.getElementById("dominant").textContent = msg.dominant_emotion;
      document.getElementById("recommendations").replaceChildren(...msg.recommendations.map(function (t) {
        const li = document.createElement("li");
        li.textContent = t;
        return li;
      }));
    } else {
      status.className = "status status-none";
      status.textContent = msg.error === "no_face" ? "No face in view" : msg.error.replace(/_/g, " ");
      document.getElementById("score").textContent = "-";
      document.getElementById("dominant").textContent = "-";
      document.getElementById("recommendations").replaceChildren();
      show(errorBox, msg.message);
    }
    document.getElementById("smoothed").textContent = msg.smoothed_score == null ? "-" : msg.smoothed_score.toFixed(1);
    renderAlerts(msg.alerts || []);
  }

  function connect() {
    socket = new WebSocket(url);
    socket.onopen = function () { retries = 0; connection.textContent = "connected"; };
    socket.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.type === "analysis") { renderAnalysis(msg); }
      else if (msg.type === "error") { show(errorBox, msg.message); }
      else if (msg.type === "ended") {
        ended = true;
        clearInterval(timer);
        connection.textContent = "the exam has ended";
      }
    };
    socket.onclose = function (event) {
      if (ended || event.code === 4000) { connection.textContent = "the exam has ended"; return; }
      if (event.code === 4403) {
        connection.textContent = "refused: this session is not yours or has ended";
        return;
      }
      // Exponential backoff with jitter, capped at 30 s.
      const delay = Math.min(30000, 1000 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
      retries += 1;
      connection.textContent = "the server is unreachable; reconnecting in " + Math.round(delay / 1000) + " s";
      setTimeout(connect, delay);
    };
  }

  connect();
  startCamera();
})();
