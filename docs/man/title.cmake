# docs/man/title.cmake — cmake -P script run by docs/CMakeLists.txt: writes
# OUT, the Markdown source IN with go-md2man's title block on top
# ("% NAME SECTION DATE SOURCE MANUAL"), so that the sources in docs/man/
# stay plain Markdown and the version comes from project(VERSION).
# No date: the same source gives the same page.
file(READ "${IN}" body)
file(WRITE "${OUT}" "% ${NAME} ${SECTION} \"\" \"sigil ${VERSION}\" \"${MANUAL}\"\n\n${body}")
