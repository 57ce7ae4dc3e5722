#!/usr/bin/env bash
# e2e.decode_banned — the `decode` stage's archives and banned content
# through a running sigild (stages = ["decode"]) in front of smtp-sink.
# Messages are built here with python3's email and zipfile modules.
#
# Asserts:
#   - a zipped invoice.pdf.exe → 250, not delivered, summary
#     category="banned (decode: banned name 'invoice.pdf.exe' in invoice.zip
#     (rule 4 of default)) destiny=discard" and the decode note lists the
#     member as invoice.zip/invoice.pdf.exe;
#   - a clean zip → delivered, the note lists its member;
#   - the same banned zip to a listener whose bank says banned_rules = "none"
#     → delivered;
#   - a spooled zip bomb (200 MiB of zeros in a 200 KB zip; the message is
#     above memory_threshold) → unchecked "expansion quota" and delivered
#     (unchecked passes by default), within seconds;
#   - nothing is left of the private temporary directories in spool_dir.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
cd "$E2E_DIR"
take_ports P_IN P_OPEN P_SINK
mkdir spool

cat >sigil.toml <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR/spool"
memory_threshold = 65536

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "smtp:[127.0.0.1]:$P_SINK"
connect_timeout = 5
reply_timeout = 30

[[listener]]
name = "in"
address = "127.0.0.1:$P_IN"
bank = "default"

[[listener]]
name = "open"
address = "127.0.0.1:$P_OPEN"
bank = "open"

[bank.default]
stages = ["decode"]

[bank.open]
stages = ["decode"]
banned_rules = "none"
EOF
"$SIGIL" check-config sigil.toml >check-config.out 2>&1 || fail "check-config: $(cat check-config.out)"
run_sink sink "$P_SINK"
LOG="$E2E_DIR/sigild.log"
run_sigild sigild sigil.toml "$P_IN"

# mkzipmsg NAME ZIPNAME MEMBER CONTENT: NAME.eml, Message-ID <NAME@e2e.test>,
# a text part and ZIPNAME holding MEMBER; CONTENT "zeros:N" is N MiB of
# zeros, one deflated MiB repeated (a bomb without the wait; CRC left 0).
mkzipmsg() {
  "$PY" - "$@" <<'PYEOF'
import io, struct, sys, zipfile, zlib
from email.message import EmailMessage
name, zipname, member, content = sys.argv[1:5]
b = io.BytesIO()
if content.startswith('zeros:'):
    n = int(content[6:])
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = c.compress(b'\0' * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    data, fn = chunk * n + c.flush(), member.encode()
    loc = struct.pack('<IHHHHHIIIHH', 0x04034b50, 20, 0, 8, 0, 0, 0, len(data), n << 20, len(fn), 0) + fn
    cen = struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 20, 20, 0, 8, 0, 0, 0, len(data), n << 20,
                      len(fn), 0, 0, 0, 0, 0, 0) + fn
    b.write(loc + data + cen + struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 1, 1, len(cen),
                                           len(loc) + len(data), 0))
else:
    with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, content)
m = EmailMessage()
m['From'] = 'a@example.org'
m['To'] = 'rcpt@example.net'
m['Subject'] = 'decode ' + name
m['Date'] = 'Mon, 1 Jan 2024 00:00:00 +0000'
m['Message-ID'] = '<%s@e2e.test>' % name
m.set_content('see the attachment\n')
m.add_attachment(b.getvalue(), maintype='application', subtype='zip', filename=zipname)
open(name + '.eml', 'wb').write(m.as_bytes().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n'))
PYEOF
}

has() { grep -qE -- "$2" <<<"$1" || fail "$3: no match for '$2' in: $1"; }
SEND_TIMEOUT=90
delivered() { [ -n "$(dump_files "$1")" ]; }

# ------------------------------------------------------------ 1. banned
mkzipmsg evil invoice.zip invoice.pdf.exe "not really a program"
send_msg "$P_IN" evil.eml 250
line=$(summary_of "$LAST_ID")
has "$line" 'action=discard' evil
has "$line" "category=\"banned \\(decode: banned name 'invoice.pdf.exe' in invoice.zip \\(rule 4 of default\\)\\) destiny=discard\"" evil
has "$line" 'decode="3 parts; names: invoice.zip, invoice.zip/invoice.pdf.exe"' evil
sleep 0.5
if delivered evil; then fail "evil was delivered"; fi
pass "a zipped invoice.pdf.exe is banned and discarded"

# ------------------------------------------------------------ 2. clean zip
mkzipmsg clean report.zip report.txt "quarterly numbers"
send_msg "$P_IN" clean.eml 250
dump_of clean >/dev/null
line=$(summary_of "$LAST_ID")
has "$line" 'decode="3 parts; names: report.zip, report.zip/report.txt"' clean
if grep -q 'category=' <<<"$line"; then fail "clean: a category: $line"; fi
pass "a clean zip is delivered, its member listed"

# ------------------------------------------------------------ 3. banned_rules = "none"
mkzipmsg evil-open invoice.zip invoice.pdf.exe "not really a program"
send_msg "$P_OPEN" evil-open.eml 250
dump_of evil-open >/dev/null
pass "a bank with banned_rules = \"none\" delivers it"

# ------------------------------------------------------------ 4. zip bomb, spooled
mkzipmsg bomb bomb.zip zeros.bin zeros:200
[ "$(stat -c %s bomb.eml)" -gt 65536 ] || fail "bomb.eml is not above memory_threshold"
t0=$(date +%s)
send_msg "$P_IN" bomb.eml 250
t1=$(date +%s)
[ $((t1 - t0)) -lt 30 ] || fail "the bomb took $((t1 - t0)) s"
dump_of bomb >/dev/null
line=$(summary_of "$LAST_ID")
has "$line" 'category="unchecked \(decode: expansion quota of [0-9]+ bytes exceeded in bomb.zip/zeros.bin\) destiny=pass"' bomb
has "$line" 'incomplete' bomb
pass "a zip bomb stops at the expansion quota (unchecked, delivered)"

# ------------------------------------------------------------ 5. no leftovers
left=$(find spool -mindepth 1 -name 'sigil-decode-*' | head -5)
[ -z "$left" ] || fail "temporary directories left in spool_dir: $left"
pass "decode stage with archives and banned rules"
