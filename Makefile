# apppass — build, install and test on Debian 12.
#
#   sudo make install   system packages, release build, module + CLI + docs, apppass init
#   make check          test dependencies, fmt, clippy, the whole test suite
#
# Both install the Debian packages they need with apt (run as root).

PREFIX      ?= /usr
DESTDIR     ?=
SBINDIR     := $(PREFIX)/sbin
MANDIR      := $(PREFIX)/share/man/man8
DOCDIR      := $(PREFIX)/share/doc/libpam-apppass
PAMCONFDIR  := $(PREFIX)/share/pam-configs
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
UNITDIR     := /lib/systemd/system
ETCPAMDIR   := /etc/pam.d
ZSHCOMPDIR  := $(PREFIX)/share/zsh/vendor-completions
# The multiarch security directory, where pam_unix.so lives.
SECURITYDIR ?= $(shell d=$$(ls -d /lib/*/security/pam_unix.so /usr/lib/*/security/pam_unix.so 2>/dev/null | head -n1); \
                 if [ -n "$$d" ]; then dirname "$$d"; else echo /lib/$$(gcc -dumpmachine)/security; fi)

# cargo from PATH, else from rustup in this user's or the sudo caller's home.
CARGO ?= $(shell command -v cargo 2>/dev/null || \
           for h in "$$HOME" "$$(getent passwd "$${SUDO_USER:-root}" | cut -d: -f6)"; do \
             if [ -x "$$h/.cargo/bin/cargo" ]; then echo "$$h/.cargo/bin/cargo"; break; fi; done)
RUSTUP_HOME ?= $(abspath $(dir $(CARGO))/../../.rustup)
export RUSTUP_HOME

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0
BUILD_DEPS := gcc libc6-dev make pkg-config libpam0g-dev libpam-modules libsqlite3-dev libssl-dev \
              build-essential debhelper dpkg-dev
TEST_DEPS  := binutils util-linux passwd openssl sqlite3 \
              dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-sqlite dovecot-ldap \
              openssh-server openssh-client sshpass bubblewrap debootstrap \
              postgresql-15 postgresql-client-15 libpq5 pgbouncer libpam-oath oathtool \
              chromium chromium-driver nginx-light libnginx-mod-http-auth-pam radicale gunicorn python3-caldav fail2ban \
              lintian systemd \
              pamtester libpam-pwdfile db5.3-util faketime slapd ldap-utils libldap-2.5-0
# The notification tests run private Postfix instances. Every Debian MTA
# conflicts with the others, so Postfix is installed only where no other
# MTA is: a host's own exim4 or nullmailer is never replaced (those tests
# then say they were skipped).
OTHER_MTA = $(shell dpkg-query -W -f='$${Package} $${Provides} $${Status}\n' 2>/dev/null | \
              awk '/mail-transport-agent/ && / installed$$/ && $$1 != "postfix" {print $$1; exit}')

RELEASE := target/release
MAN_OUT := target/man


.PHONY: all build deps test-deps install install-files uninstall check lint test man bench soak fuzz deb package-check copyright clean

all: build

$(RELEASE)/apppass $(RELEASE)/libpam_apppass.so: build

build: need-cargo
	$(CARGO) build --release --locked --workspace

need-cargo:
	@if [ -z "$(CARGO)" ]; then \
	  echo "cargo not found: install Rust 1.85 or newer with rustup (https://rustup.rs), then run make again" >&2; exit 1; fi

deps:
	@if [ "$$(id -u)" != 0 ]; then echo "installing build dependencies needs root: run 'sudo make install'" >&2; exit 1; fi
	apt-get update -q
	$(APT_GET) install --no-install-recommends $(BUILD_DEPS)

# Package installs must not start daemons: the tests run their own.
test-deps: deps
	@# Postfix asks how the host sends mail; the tests run private instances
	@# of their own and never the system one.
	echo 'postfix postfix/main_mailer_type select Local only' | debconf-set-selections
	@if [ -n "$(OTHER_MTA)" ]; then echo "$(OTHER_MTA) is this host's MTA: Postfix is not installed, and the notification tests that need it will say they were skipped"; fi
	@if [ ! -e /usr/sbin/policy-rc.d ]; then \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; touch .policy-rc.d-ours; fi
	$(APT_GET) install --no-install-recommends $(TEST_DEPS) $(if $(OTHER_MTA),,postfix); rc=$$?; \
	  if [ -e .policy-rc.d-ours ]; then rm -f /usr/sbin/policy-rc.d .policy-rc.d-ours; fi; exit $$rc

man: need-cargo
	$(CARGO) run --release --locked -q -p apppass-cli --example mangen -- $(MAN_OUT)

install: deps build man install-files
	@if [ -z "$(DESTDIR)" ]; then $(SBINDIR)/apppass init; fi
	@# The web page's own unprivileged user (apppass-web.service runs as it).
	@if [ -z "$(DESTDIR)" ] && ! getent passwd apppass-web >/dev/null; then \
	  useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin --comment "apppass web page" apppass-web; fi
	@if [ -z "$(DESTDIR)" ]; then \
	  if [ -d /run/systemd/system ]; then \
	    systemctl daemon-reload && systemctl enable --now apppassd.socket apppass-watch.service apppass-check-primary.timer apppass-deliver.timer && \
	    echo "apppassd.socket is enabled: users can manage their own app passwords once you run 'apppass config self-service-services SVC,...'; apppass-watch.service signs revoked passwords out; apppass-check-primary.timer revokes, every 15 minutes, the app passwords of users whose primary password changed; apppass-deliver.timer sends notification mails once you run 'apppass config notify mail'"; \
	  else \
	    echo "systemd is not running here, so apppassd.socket, apppass-watch.service and apppass-check-primary.timer were installed but not started; start them by hand with: apppassd --socket /run/apppass/apppassd.sock & apppass watch & (and cron lines: */15 * * * * root /usr/sbin/apppass check-primary, */5 * * * * root /usr/sbin/apppass deliver)"; \
	  fi; fi
	@echo "installed: $(SECURITYDIR)/pam_apppass.so, $(SBINDIR)/apppass, $(SBINDIR)/apppassd and $(SBINDIR)/apppass-web (apppass-web.service is installed disabled); see README.md to wire a service"

install-files:
	install -d $(DESTDIR)$(SECURITYDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DOCDIR)/examples \
	  $(DESTDIR)$(DOCDIR)/examples/dovecot-2.3 $(DESTDIR)$(DOCDIR)/examples/dovecot-2.4 \
	  $(DESTDIR)$(DOCDIR)/examples/nginx $(DESTDIR)$(DOCDIR)/examples/apache $(DESTDIR)$(DOCDIR)/examples/radicale \
	  $(DESTDIR)$(PAMCONFDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(ETCPAMDIR)
	install -m 0644 $(RELEASE)/libpam_apppass.so $(DESTDIR)$(SECURITYDIR)/pam_apppass.so
	install -m 0755 $(RELEASE)/apppass $(DESTDIR)$(SBINDIR)/apppass
	install -m 0755 $(RELEASE)/apppassd $(DESTDIR)$(SBINDIR)/apppassd
	install -m 0755 $(RELEASE)/apppass-web $(DESTDIR)$(SBINDIR)/apppass-web
	install -m 0644 packaging/systemd/apppassd.socket packaging/systemd/apppassd.service \
	  packaging/systemd/apppass-web.service packaging/systemd/apppass-watch.service \
	  packaging/systemd/apppass-check-primary.service packaging/systemd/apppass-check-primary.timer \
	  packaging/systemd/apppass-deliver.service packaging/systemd/apppass-deliver.timer \
	  $(DESTDIR)$(UNITDIR)/
	@# A PAM file the administrator may have changed (a second factor) is kept.
	for f in apppass apppass-web; do if [ ! -e $(DESTDIR)$(ETCPAMDIR)/$$f ]; then \
	  install -m 0644 packaging/pam.d-system/$$f $(DESTDIR)$(ETCPAMDIR)/$$f; fi; done
	@# Compressed, as Debian wants them (the package installs the same files).
	for m in $(MAN_OUT)/*.8 packaging/man/pam_apppass.8 packaging/man/apppassd.8 packaging/man/apppass-web.8; do \
	  gzip -9n < $$m > $(DESTDIR)$(MANDIR)/$$(basename $$m).gz && chmod 0644 $(DESTDIR)$(MANDIR)/$$(basename $$m).gz || exit 1; done
	install -m 0644 $(MAN_OUT)/apppass.bash $(DESTDIR)$(BASHCOMPDIR)/apppass
	install -m 0644 $(MAN_OUT)/_apppass $(DESTDIR)$(ZSHCOMPDIR)/_apppass
	install -m 0644 packaging/pam.d/* $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 packaging/dovecot/2.3/* $(DESTDIR)$(DOCDIR)/examples/dovecot-2.3/
	install -m 0644 packaging/dovecot/2.4/* $(DESTDIR)$(DOCDIR)/examples/dovecot-2.4/
	install -m 0644 packaging/nginx/apppass-web.conf packaging/nginx/dav.conf $(DESTDIR)$(DOCDIR)/examples/nginx/
	install -m 0644 packaging/radicale/config packaging/radicale/override.conf $(DESTDIR)$(DOCDIR)/examples/radicale/
	install -m 0644 packaging/apache/apppass-web.conf $(DESTDIR)$(DOCDIR)/examples/apache/
	install -d $(DESTDIR)/etc/fail2ban/filter.d $(DESTDIR)$(DOCDIR)/examples/fail2ban
	install -m 0644 packaging/fail2ban/filter.d/apppass.conf $(DESTDIR)/etc/fail2ban/filter.d/apppass.conf
	install -m 0644 packaging/fail2ban/jail.d/apppass.conf $(DESTDIR)$(DOCDIR)/examples/fail2ban/jail-apppass.conf
	install -m 0644 packaging/pam-configs/apppass $(DESTDIR)$(PAMCONFDIR)/apppass
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 debian/copyright $(DESTDIR)$(DOCDIR)/copyright
	gzip -9n < debian/changelog > $(DESTDIR)$(DOCDIR)/changelog.gz && chmod 0644 $(DESTDIR)$(DOCDIR)/changelog.gz
	@# The configuration is the administrator's once installed.
	install -d $(DESTDIR)/etc/apppass
	if [ ! -e $(DESTDIR)/etc/apppass/apppass.conf ]; then \
	  install -m 0644 packaging/apppass.conf $(DESTDIR)/etc/apppass/apppass.conf; fi

uninstall:
	-if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now apppass-web.service apppassd.socket apppassd.service apppass-watch.service apppass-check-primary.timer apppass-deliver.timer; fi
	rm -f $(DESTDIR)$(SECURITYDIR)/pam_apppass.so $(DESTDIR)$(SBINDIR)/apppass $(DESTDIR)$(SBINDIR)/apppassd $(DESTDIR)$(SBINDIR)/apppass-web \
	  $(DESTDIR)$(UNITDIR)/apppassd.socket $(DESTDIR)$(UNITDIR)/apppassd.service $(DESTDIR)$(UNITDIR)/apppass-web.service \
	  $(DESTDIR)$(UNITDIR)/apppass-watch.service \
	  $(DESTDIR)$(UNITDIR)/apppass-check-primary.service $(DESTDIR)$(UNITDIR)/apppass-check-primary.timer \
	  $(DESTDIR)$(UNITDIR)/apppass-deliver.service $(DESTDIR)$(UNITDIR)/apppass-deliver.timer \
	  $(DESTDIR)$(MANDIR)/apppass.8.gz $(DESTDIR)$(MANDIR)/apppass-*.8.gz $(DESTDIR)$(MANDIR)/pam_apppass.8.gz $(DESTDIR)$(MANDIR)/apppassd.8.gz \
	  $(DESTDIR)$(BASHCOMPDIR)/apppass $(DESTDIR)$(ZSHCOMPDIR)/_apppass $(DESTDIR)$(PAMCONFDIR)/apppass
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "the store in /var/lib/apppass, /etc/apppass, /etc/pam.d/apppass, /etc/pam.d/apppass-web, /etc/fail2ban/filter.d/apppass.conf and the user apppass-web are kept; remove them by hand if you mean to"

lint: need-cargo
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings

# The suite's own summary closes the output: passed, failed, and tests that
# could not run here (they print "*** SKIPPED" as they go).
test: need-cargo build
	@mkdir -p target
	$(CARGO) test --release --locked --workspace 2>&1 | tee target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} /^\*\*\* SKIPPED/ {s++} \
	  END {printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s}' target/test.log

check: test-deps lint deb test

# Figures side by side, and the targets as ratios of figures from the same
# run; writes target/bench/report.md, report.json and chart.svg. PARTS
# runs only some: argon2 logins postgres processes size dovecot steady revoke
# primary.
PARTS ?=
bench: test-deps build
	$(CARGO) run --release --locked -q -p apppass-e2e --bin bench -- $(PARTS)

# The reliability suite with its long settings (make check runs it short):
# kill -9 during 1,000 writes, 2 minutes of logins beside writers and 50
# self-service clients, a full disk, a read-only remount, a stepped clock;
# on SQLite and PostgreSQL. About 12 minutes.
soak: test-deps build
	APPPASS_SOAK=long $(CARGO) test --release --locked -p apppass-e2e --test e2e -- soak:: --test-threads=1 --nocapture 2>&1 | tee target/soak.log
	@grep -oE 'soak (Sqlite|Postgres)[: ].*|\*\*\* SKIPPED.*|^test result.*' target/soak.log

# The parsers under libFuzzer, FUZZ_SECONDS each. Needs a nightly
# toolchain and cargo-fuzz (cargo install cargo-fuzz). New inputs land in
# fuzz/corpus/TARGET; `make check` replays that corpus on stable.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := normalize expiry module_args phc daemon_request web_form web_link pam_authenticate
# pam_authenticate logs in through libpam into the built module: build first.
fuzz: need-cargo build
	@if ! $(CARGO) +nightly fuzz --version >/dev/null 2>&1; then \
	  echo "make fuzz needs a nightly toolchain and cargo-fuzz: rustup toolchain install nightly; cargo install cargo-fuzz" >&2; exit 1; fi
	for t in $(FUZZ_TARGETS); do \
	  $(CARGO) +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; done

# The Debian package, built by debhelper from debian/ (which installs with
# `make install-files`, so both install the same files). dpkg-buildpackage
# leaves its output in ..; it is moved to target/deb.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version)
DEB_ARCH = $(shell dpkg --print-architecture)
deb: need-cargo
	rm -rf target/deb && mkdir -p target/deb
	PATH="$(dir $(CARGO)):$$PATH" dpkg-buildpackage -b -us -uc
	mv ../libpam-apppass_$(DEB_VERSION)_$(DEB_ARCH).deb ../libpam-apppass-dbgsym_$(DEB_VERSION)_$(DEB_ARCH).deb \
	   ../apppass_$(DEB_VERSION)_$(DEB_ARCH).buildinfo ../apppass_$(DEB_VERSION)_$(DEB_ARCH).changes target/deb/
	@ls -l target/deb

# piuparts in a clean Debian 12 chroot: install, remove, purge, and an
# upgrade from the previous release (0.1.0, built by hand with dpkg-deb).
PREVIOUS_COMMIT := b97a4b35e74d7ca6798f8a5f31328b59e67edf43
package-check: deb
	@command -v piuparts >/dev/null || { echo "make package-check needs piuparts: apt-get install piuparts" >&2; exit 1; }
	packaging/package-check.sh target/deb/libpam-apppass_$(DEB_VERSION)_$(DEB_ARCH).deb $(PREVIOUS_COMMIT)

# debian/copyright lists the crates in the binaries; run after Cargo.lock changes.
copyright:
	CARGO=$(CARGO) packaging/copyright.sh > debian/copyright.new && mv debian/copyright.new debian/copyright

clean:
	$(CARGO) clean
