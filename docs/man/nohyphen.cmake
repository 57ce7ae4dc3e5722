# docs/man/nohyphen.cmake — cmake -P script run by docs/CMakeLists.txt after
# go-md2man: moves its ".nh" (no hyphenation) after the ".TH" line, where
# the man macros, which turn hyphenation back on in .TH, no longer undo it,
# so that key names such as max_expansion_factor are never split.
file(READ "${PAGE}" roff)
string(REGEX REPLACE "^\\.nh\n" "" roff "${roff}")
string(REGEX REPLACE "(\n?\\.TH [^\n]*\n)" "\\1.nh\n" roff "${roff}")
file(WRITE "${PAGE}" "${roff}")
