// Instructors' live view: one row per session, updated over the instructors' WebSocket.
(function () {
  "use strict";
  const body = document.querySelector("#sessions tbody");
  const connection = document.getElementById("connection");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/monitor/instructors/";
  let retries = 0;

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text == null || text === "" ? "-" : text;
    if (cls) { td.className = cls; }
    return td;
  }

  function render(s) {
    let row = body.querySelector('tr[data-session="' + s.id + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.session = s.id;
      body.appendChild(row);
    }
    const alerts = document.createElement("td");
    alerts.className = "alerts-cell";
    s.alerts.forEach(function (a) {
      const span = document.createElement("span");
      span.className = "alert alert-" + a.severity;
      span.dataset.kind = a.kind;
      span.title = a.message;
      span.textContent = a.kind;
      alerts.appendChild(span);
    });
    if (!s.alerts.length) { alerts.textContent = "-"; }
    row.replaceChildren(cell(s.learner), cell(s.course_id + " / " + s.exam_id), cell(s.status),
      cell(s.engagement_status, "status-cell"), cell(s.dominant_emotion),
      cell(s.smoothed_score == null ? null : s.smoothed_score.toFixed(1)), cell(s.frames), alerts);
  }

  function connect() {
    const socket = new WebSocket(url);
    socket.onopen = function () { retries = 0; connection.textContent = "live"; };
    socket.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.type === "sessions") { msg.sessions.forEach(render); }
      if (msg.type === "session") { render(msg.session); }
    };
    socket.onclose = function (event) {
      if (event.code === 4403) { connection.textContent = "refused: instructors only"; return; }
      const delay = Math.min(30000, 1000 * Math.pow(2, retries));
      retries += 1;
      connection.textContent = "disconnected; reconnecting in " + Math.round(delay / 1000) + " s";
      setTimeout(connect, delay);
    };
  }
  connect();
})();
