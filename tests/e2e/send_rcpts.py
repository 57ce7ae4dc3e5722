"""tests/e2e/send_rcpts.py — one transaction with several recipients (SMTP or LMTP).

  send_rcpts.py [--lmtp] [--smtputf8] PORT FILE MAIL_FROM RCPT[ PARAM...] ...

Each RCPT argument is the address, optionally followed by ESMTP parameters
separated by spaces ("a@example.net NOTIFY=NEVER").  MAIL_FROM "" is the
null sender.  --smtputf8: MAIL FROM with SMTPUTF8 (UTF-8 addresses, RFC
6531).  Prints the DATA reply as "CODE text"; with --lmtp, one line
"ADDRESS CODE text" per accepted recipient (RFC 2033 §4.2).
"""
import smtplib
import sys

args = sys.argv[1:]
lmtp = args and args[0] == "--lmtp"
if lmtp:
    args = args[1:]
utf8 = args and args[0] == "--smtputf8"
if utf8:
    args = args[1:]
port, path, mail_from = int(args[0]), args[1], args[2]
rcpts = [a.split(" ") for a in args[3:]]
if lmtp:
    s = smtplib.LMTP("127.0.0.1", port, timeout=60)
    s.ehlo_or_helo_if_needed = lambda: None
    s.docmd("LHLO", "client.e2e.test")
    s.ehlo_resp = b""
    s.does_esmtp = True
    s.esmtp_features = {"dsn": "", "pipelining": "", "8bitmime": ""}
else:
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    s.ehlo("client.e2e.test")
code, text = s.mail(mail_from, ["SMTPUTF8"] if utf8 else [])
assert code == 250, (code, text)
for r in rcpts:
    code, text = s.rcpt(r[0], r[1:])
    assert code == 250, (r, code, text)
data = open(path, "rb").read()
if lmtp:
    # smtplib's LMTP data() reads one reply only; read one per recipient.
    code, text = s.docmd("DATA")
    assert code == 354, (code, text)
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    s.send(stuffed + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    for r in rcpts:
        code, text = s.getreply()
        print(r[0], code, text.decode("utf-8", "replace").replace("\n", " "))
else:
    try:
        code, text = s.data(data)
    except smtplib.SMTPDataError as e:
        code, text = e.smtp_code, e.smtp_error
    print(code, text.decode("utf-8", "replace").replace("\n", " "))
s.quit()
