// One time format for every page: 24-hour clock time in the viewer's (browser's) time zone, the zone named.
(function () {
  "use strict";
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const format = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
  });
  window.EngagementTime = {
    zone: zone,  // e.g. "Europe/Berlin"
    // "16:42:05 CET" for a Date or an ISO 8601 string.
    clock: function (value) { return format.format(value instanceof Date ? value : new Date(value)); },
  };
})();
