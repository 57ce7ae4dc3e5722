# conf/packaging/service_toml.cmake — cmake -DIN=conf/sigil.toml -DOUT=FILE -P
# this: writes the packaged service's /etc/sigil/sigil.toml, the commented
# default with the service's settings ([daemon] user and group sigil,
# log_target syslog, spool_dir /var/spool/sigil, [metrics] on 127.0.0.1:9101).
#
# Each edit is a plain string replacement that must match exactly once: a
# line changed in conf/sigil.toml stops the build here instead of shipping a
# file that silently kept the developer's setting.  It does not check the
# result (the package test does, by starting sigild on it).
file(READ "${IN}" text)

# PATTERN|REPLACEMENT, each replacement the same width where it can be so the
# comments stay aligned.
set(edits
  # The source's first lines speak of the embedded copy; the header below replaces them.
  "# Sigil — embedded default configuration.\n#\n# This file is compiled into sigild: `sigild` with no `-c` runs exactly this.\n|"
  "log_target = \"stderr\"|log_target = \"syslog\""
  "# user = \"sigil\"  |user = \"sigil\"    "
  "# group = \"sigil\"  |group = \"sigil\"    "
  "spool_dir = \"/var/tmp\"       |spool_dir = \"/var/spool/sigil\""
  "# [metrics]\n# address = \"127.0.0.1:9101\"  |[metrics]\naddress = \"127.0.0.1:9101\"    "
)
foreach(edit IN LISTS edits)
  string(FIND "${edit}" "|" bar)
  string(SUBSTRING "${edit}" 0 ${bar} from)
  math(EXPR bar "${bar} + 1")
  string(SUBSTRING "${edit}" ${bar} -1 to)
  string(FIND "${text}" "${from}" first)
  string(FIND "${text}" "${from}" last REVERSE)
  if(first EQUAL -1)
    message(FATAL_ERROR "${IN}: '${from}' not found; update conf/packaging/service_toml.cmake")
  endif()
  if(NOT first EQUAL last)
    message(FATAL_ERROR "${IN}: '${from}' found more than once; update conf/packaging/service_toml.cmake")
  endif()
  string(REPLACE "${from}" "${to}" text "${text}")
endforeach()

set(header "# /etc/sigil/sigil.toml — the sigil service's configuration (a conffile: your
# edits are kept on upgrade).  sigild started with no -c reads it; check it
# with `sigil check-config`, apply it with `systemctl reload sigil`.
# This is sigild's embedded default (conf/sigil.toml in the source) with the
# service's settings: [daemon] user and group sigil, log_target syslog
# (facility mail), spool_dir /var/spool/sigil, Prometheus metrics on
# 127.0.0.1:9101 (/metrics).  Other starting points:
# /usr/share/doc/sigil/examples/.
#
")
file(WRITE "${OUT}.tmp" "${header}${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
