"""Date formats for the pages and the admin: 24-hour times to the second, the viewer's time zone named (T)."""
DATETIME_FORMAT = "N j, Y, H:i:s T"
TIME_FORMAT = "H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
