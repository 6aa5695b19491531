"""Date formats for the pages and the admin: times to the second (frames and alerts are seconds apart)."""
DATETIME_FORMAT = "N j, Y, H:i:s"
TIME_FORMAT = "H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
