"""tests/e2e/send_msg.py — send one message file with smtplib (relay_lib.sh's send_msg).

  send_msg.py PORT FILE [TIMEOUT [MAIL_FROM [RCPT_TO]]]

EHLO client.e2e.test, MAIL FROM MAIL_FROM (sender@example.org), RCPT TO
RCPT_TO (rcpt@example.net), DATA with FILE as is (CRLF lines); prints the
DATA reply as "CODE text", a refusal included, and exits 0 once it has one.
"""
import smtplib
import sys

port, path = int(sys.argv[1]), sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 120
mail_from = sys.argv[4] if len(sys.argv) > 4 else "sender@example.org"
rcpt_to = sys.argv[5] if len(sys.argv) > 5 else "rcpt@example.net"
s = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
s.ehlo("client.e2e.test")
s.mail(mail_from)
s.rcpt(rcpt_to)
try:
    code, text = s.data(open(path, "rb").read())
except smtplib.SMTPDataError as e:
    code, text = e.smtp_code, e.smtp_error
print(code, text.decode("utf-8", "replace"))
s.quit()
