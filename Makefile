# gatewayd: static top-level Makefile. It installs what is missing, runs ./configure once, and
# delegates the build to objs/Makefile. Quick start: `make run` and `make test`.

MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: default build run test deps test-deps install clean distclean fuzz fuzz-run bench deb rpm dist packages

default: build

# A module added to the list, or a module's folder added (src/modules changes), runs ./configure
# again: it writes the list of modules built in (objs/modules.cc). The touch: configure leaves
# an unchanged objs/Makefile as it was, which would otherwise run it on every make.
objs/Makefile: configure Makefile.in src/modules/modules.list src/modules
	./configure $(CONFIGURE_ARGS)
	touch objs/Makefile

build: objs/Makefile
	$(MAKE) -j$(JOBS) -f objs/Makefile build

deps:
	sh auto/install-deps build

test-deps:
	sh auto/install-deps test

# Foreground gatewayd with the shipped config: routes on 127.0.0.1:8080, admin on 127.0.0.1:9901.
run: deps
	$(MAKE) build
	mkdir -p logs
	objs/gatewayd -F -p $(CURDIR) -c conf/gateway.conf

test: test-deps
	$(MAKE) build
	$(MAKE) -j$(JOBS) -f objs/Makefile tests
	perl t/run-tests

# Proxy benchmark, gatewayd vs nginx with wrk (see bench/README); writes bench/results/latest.json.
bench: deps
	$(MAKE) build
	bench/run

fuzz: objs/Makefile
	$(MAKE) -f objs/Makefile fuzz

# Each fuzz target for FUZZ_TIME seconds (default 60), inputs up to 16 KiB (t/fuzz/run).
fuzz-run: fuzz
	t/fuzz/run

install: build
	$(MAKE) -f objs/Makefile install

# Packages, from one --system build in objs/pkg (packaging/mkpkg): objs/packages/gatewayd_*.deb
# (dpkg-buildpackage, debhelper) and objs/packages/gatewayd-*.rpm (rpmbuild).  `make dist` makes
# the source tarball that rpmbuild -ta takes on an RPM distribution.
deb:
	packaging/mkpkg deb

rpm:
	packaging/mkpkg rpm

packages: deb rpm

dist:
	packaging/mkpkg dist

clean:
	test ! -f objs/Makefile || $(MAKE) -f objs/Makefile clean

distclean:
	rm -rf objs logs
