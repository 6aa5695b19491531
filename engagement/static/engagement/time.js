// One time format for every page: 24-hour clock time in the viewer's (browser's) time zone, the zone named.
(function () {
  "use strict";
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  // en-GB names zones as the server does (CET, CEST, BST, UTC); elsewhere it gives an offset (GMT-5).
  const format = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
  });
  // The server renders times (the admin, reports) in this zone from the next page on (proctoring/timezones.py).
  if (zone && document.cookie.split("; ").indexOf("tz=" + zone) < 0) {
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  window.EngagementTime = {
    zone: zone,  // e.g. "Europe/Berlin"
    // "16:42:05 CET" for a Date or an ISO 8601 string.
    clock: function (value) { return format.format(value instanceof Date ? value : new Date(value)); },
  };
})();
