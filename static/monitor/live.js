// Instructors' live view: one row per session, kept current over the instructors' WebSocket.
(function () {
  "use strict";
  const body = document.querySelector("#sessions tbody");
  const connection = document.getElementById("connection");
  const empty = document.getElementById("empty");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/monitor/instructors/";
  let retries = 0;

  // Human words for the codes the server sends.
  const STATUS = {
    highly_engaged: "Highly engaged", engaged: "Engaged", neutral: "Neutral", partially_engaged: "Partly engaged",
    confused: "Confused", distracted: "Distracted", frustrated: "Frustrated", bored: "Bored",
    no_face: "No face in view", face_too_small: "Too far from the camera",
  };
  const SESSION = { scheduled: "Not started", active: "Running", ended: "Ended" };
  const KIND = { absent: "Absent", multiple_faces: "Several faces", low_engagement: "Low engagement",
                 struggling: "Struggling", looking_away: "Looking away" };
  const NOT_ANALYSED = ["no_face", "face_too_small"];

  function cell(content, cls) {
    const td = document.createElement("td");
    if (content instanceof Node) { td.appendChild(content); }
    else { td.textContent = content == null || content === "" ? "-" : content; }
    if (cls) { td.className = cls; }
    return td;
  }

  function link(text, href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function since(iso) {  // "m:ss" (or "h:mm:ss") since an ISO time
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  function tick() {
    document.querySelectorAll("span.alert[data-opened]").forEach(function (span) {
      span.querySelector(".open-for").textContent = since(span.dataset.opened);
    });
  }

  function render(s) {
    let row = body.querySelector('tr[data-session="' + s.id + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.session = s.id;
      body.appendChild(row);
    }
    const report = "/admin/monitor/examsession/" + s.id + "/change/";
    const alerts = document.createElement("span");
    s.alerts.forEach(function (a) {
      const span = document.createElement("span");
      span.className = "alert alert-" + a.severity;
      span.dataset.kind = a.kind;
      span.dataset.opened = a.opened_at;
      span.title = a.message;
      span.append((KIND[a.kind] || a.kind) + " ");
      const open = document.createElement("span");
      open.className = "open-for";
      open.textContent = since(a.opened_at);
      span.appendChild(open);
      alerts.appendChild(span);
    });
    if (s.alerts.length) {
      alerts.appendChild(link("review", "/admin/monitor/alert/?session__id__exact=" + s.id));
    } else { alerts.textContent = "-"; }
    const analysed = s.engagement_status && NOT_ANALYSED.indexOf(s.engagement_status) < 0;
    const status = cell(STATUS[s.engagement_status] || s.engagement_status, "status-cell");
    if (s.engagement_status) { status.dataset.status = s.engagement_status; }
    row.className = (s.alerts.length ? "has-alerts" : "") +
      (s.alerts.some(function (a) { return a.severity === "critical"; }) ? " has-critical" : "") +
      (s.status === "ended" ? " ended" : "");
    // While no face is analysed, an older smoothed score would read as engagement now: show "-".
    row.replaceChildren(cell(link(s.learner, report)), cell(s.course_id + " / " + s.exam_id),
      cell(SESSION[s.status] || s.status, "wide"), status, cell(analysed ? s.dominant_emotion : null, "wide"),
      cell(analysed && s.smoothed_score != null ? s.smoothed_score.toFixed(1) : null), cell(s.frames, "wide"),
      cell(alerts, "alerts-cell"));
    empty.hidden = body.children.length > 0;
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

  JSON.parse(document.getElementById("initial-sessions").textContent).forEach(render);
  empty.hidden = body.children.length > 0;
  setInterval(tick, 1000);
  connect();
})();
