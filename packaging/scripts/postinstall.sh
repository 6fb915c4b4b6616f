#!/bin/sh
# Creates the service user and the state folders, so canopyd and
# canopy-agent find them both under systemd and when started by hand.
set -e
if ! getent passwd canopy >/dev/null; then
	useradd --system --user-group --home-dir /var/lib/canopy --no-create-home \
		--shell /usr/sbin/nologin --comment "canopy daemon" canopy
fi
install -d -o canopy -g canopy -m 0750 /var/lib/canopy /var/lib/canopy-agent
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
