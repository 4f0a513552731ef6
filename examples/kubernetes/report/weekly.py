"""Weekly report, run by the `weekly-report` job on its schedule (jobwire's or a CronJob's).

REPORT_DAYS and SCHEDULE come from the job's env; the whole cron message is in the file named
by JOBWIRE_MESSAGE. JOBWIRE_RUN_ID names this run (under a CronJob: the name of the tick's Job).
"""
import datetime
import json
import os

with open(os.environ["JOBWIRE_MESSAGE"], encoding="utf-8") as f:
    message = json.load(f)

days = int(os.environ.get("REPORT_DAYS", "7"))
now = datetime.datetime.now(datetime.timezone.utc)
start = (now - datetime.timedelta(days=days)).date()
print(f"report {start} .. {now.date()} ({days} days)")
print(f"  run {os.environ.get('JOBWIRE_RUN_ID', '?')}, schedule {os.environ.get('SCHEDULE', '?')!r}")
print(f"  triggered by message {message['id']!r} from source {message['source']!r}")
