// Package packaging holds canopy's Debian package definition (nfpm.yaml,
// the systemd units, the maintainer scripts) and the test that installs
// the built .deb. `task package` builds it.
package packaging
