#!/bin/sh
# remove keeps the tree and trend history in /var/lib/canopy; only purge
# deletes them. The system user stays, as Debian's policy asks.
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/canopy /var/lib/canopy-agent
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
