# conf/packaging/package.cmake — install rules of everything but the two
# executables (filter/app installs those) and the CPack configuration of the
# Debian package (scripts/package builds it: cpack -G DEB).
#
# What it does: generates the service's /etc/sigil/sigil.toml from
# conf/sigil.toml at build time (service_toml.cmake, which fails the build
# when a line it edits is gone, so the two never drift); installs it as a
# conffile, the three example configurations, the systemd unit, the
# sysusers.d and tmpfiles.d entries, the copyright file and the Debian
# changelog (docs/ installs the man pages).  It does not create the sigil
# user or its directories: the maintainer scripts do (postinst), as the
# package's files are all owned by root.
include(GNUInstallDirs)

set(SIGIL_PACKAGE_MAINTAINER "Sigil maintainers <maintainers@sigil.example>"
    CACHE STRING "Maintainer field of the Debian package")

set(_pkg ${CMAKE_CURRENT_LIST_DIR})
set(_out ${CMAKE_BINARY_DIR}/packaging)

# /etc/sigil/sigil.toml: conf/sigil.toml with the service's settings.
add_custom_command(
  OUTPUT ${_out}/sigil.toml
  COMMAND ${CMAKE_COMMAND} -DIN=${PROJECT_SOURCE_DIR}/conf/sigil.toml -DOUT=${_out}/sigil.toml
          -P ${_pkg}/service_toml.cmake
  DEPENDS ${PROJECT_SOURCE_DIR}/conf/sigil.toml ${_pkg}/service_toml.cmake
  COMMENT "Generating the service's sigil.toml from conf/sigil.toml")

# /usr/share/doc/sigil/changelog.gz (a native package: its version has no
# Debian revision, so lintian wants this name, not changelog.Debian.gz),
# compressed as Debian wants it (gzip -9n: no name, no time stamp).
# The entry's date honours SOURCE_DATE_EPOCH (string(TIMESTAMP) does).
string(TIMESTAMP SIGIL_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${_pkg}/changelog.in ${_out}/changelog @ONLY)
add_custom_command(
  OUTPUT ${_out}/changelog.gz
  COMMAND gzip -9nc ${_out}/changelog > ${_out}/changelog.gz
  DEPENDS ${_out}/changelog)
add_custom_target(sigil_packaging ALL DEPENDS ${_out}/sigil.toml ${_out}/changelog.gz)

# Where systemd looks: the distribution's directories (pkg-config systemd),
# Debian 12's when systemd's .pc file is not installed.
find_package(PkgConfig QUIET)
set(_unitdir /lib/systemd/system)
set(_sysusersdir /usr/lib/sysusers.d)
set(_tmpfilesdir /usr/lib/tmpfiles.d)
if(PkgConfig_FOUND)
  pkg_get_variable(_v systemd systemdsystemunitdir)
  if(_v)
    set(_unitdir ${_v})
  endif()
  pkg_get_variable(_v systemd sysusersdir)
  if(_v)
    set(_sysusersdir ${_v})
  endif()
  pkg_get_variable(_v systemd tmpfilesdir)
  if(_v)
    set(_tmpfilesdir ${_v})
  endif()
endif()

set(_doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/sigil)
install(FILES ${_out}/sigil.toml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/sigil
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/conf/examples/inbound-verify.toml
              ${PROJECT_SOURCE_DIR}/conf/examples/scanning-gateway.toml
              ${PROJECT_SOURCE_DIR}/conf/examples/signing-relay.toml
        DESTINATION ${_doc}/examples)
install(FILES ${_pkg}/copyright ${_out}/changelog.gz DESTINATION ${_doc})
install(FILES ${_pkg}/sigil.service DESTINATION ${_unitdir})
install(FILES ${_pkg}/sysusers.conf DESTINATION ${_sysusersdir} RENAME sigil.conf)
install(FILES ${_pkg}/tmpfiles.conf DESTINATION ${_tmpfilesdir} RENAME sigil.conf)

# The man pages (sigild.8, sigil.1, sigil.toml.5) are installed by
# docs/CMakeLists.txt's own rules; CPack packages whatever is installed, so
# they are in the package as soon as the build makes them.

# --- CPack: one .deb, sigil_<version>_<arch>.deb ---------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sigil)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${SIGIL_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "mail content filter daemon with DKIM signing and verification")
# The extended description; CPack indents it and writes " ." for the empty line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "Sigil sits beside Postfix as an after-queue content filter (SMTP or LMTP
proxy) or as a milter. It signs outbound mail with DKIM, verifies inbound
signatures and adds Authentication-Results, and can decode messages and
pass them to ClamAV, SpamAssassin or Rspamd, quarantining what they flag.

The service runs /usr/sbin/sigild as the sigil user with the configuration
in /etc/sigil/sigil.toml; the sigil command checks configurations and
manages keys and the quarantine.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: postinst falls back to it where systemd-sysusers is missing.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_STRIP_FILES ON)
file(WRITE ${_out}/control/conffiles "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sigil/sigil.toml\n")
foreach(_s postinst prerm postrm)
  file(COPY ${_pkg}/${_s} DESTINATION ${_out}/control
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                        WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_out}/control/conffiles ${_out}/control/postinst ${_out}/control/prerm ${_out}/control/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
