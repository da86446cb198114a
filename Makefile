# flipswitch — build, test, demo. `make help` lists the targets.

BUILD     ?= build
CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
LLVM_STRIP ?= llvm-strip
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	     -Iinclude -Iuser -Itools -Iguest/lib -I$(BUILD) -D_GNU_SOURCE
DEBUG_CFLAGS := -O1 -g -DFS_DEBUG -fsanitize=address,undefined -fno-omit-frame-pointer
BPF_CFLAGS := -g -O2 -target bpf -Wall -Werror -Iinclude -I/usr/include/$(MULTIARCH)

LIBS_DAEMON := -lxdp -lbpf -lconfig -ljansson -lmicrohttpd -lsystemd -lelf -lz -lpthread
LIBS_TEST   := $(LIBS_DAEMON) -lcmocka -lpcap

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.PHONY: all help deps deps-test test test-unit test-integration test-qemu guest-image demo clean install bench bench-quick bench-guest deb fuzz fuzz-build soak

DAEMON_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
DAEMON_OBJS := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(DAEMON_SRCS))
DEBUG_OBJS  := $(patsubst user/%.c,$(BUILD)/obj-debug/%.o,$(DAEMON_SRCS))
GUEST_LIB   := $(wildcard guest/lib/*.c)
GUEST_OBJS  := $(patsubst guest/lib/%.c,$(BUILD)/obj/%.o,$(GUEST_LIB))
CTL_OBJS    := $(patsubst tools/ctl/%.c,$(BUILD)/obj/ctl/%.o,$(filter-out tools/ctl/main.c,$(wildcard tools/ctl/*.c)))
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
SKEL        := $(BUILD)/flipswitch.skel.h

all: $(BUILD)/flipswitchd $(BUILD)/flipswitchd-debug $(BUILD)/flipswitch-guest \
     $(BUILD)/flipswitchctl $(BUILD)/flipswitch-qemu-args $(BUILD)/guest/flipswitch-guest \
     $(BUILD)/fs-pkt $(BUILD)/fs-gen $(BUILD)/fs-sink $(BUILD)/fs-core-bench $(UNIT_TESTS)

help:
	@echo 'make            build everything into $(BUILD)/'
	@echo 'make deps       install the Debian packages that are missing (root)'
	@echo 'make deps-test  the same, and what only the tests use (promtool, lintian, ...)'
	@echo 'make test       deps-test, build, run every test; ends with "N passed, N failed"'
	@echo 'make test-unit  only the cmocka unit tests'
	@echo 'make test-integration  only the namespace/veth integration tests (root)'
	@echo 'make test-qemu  only the end-to-end tests with QEMU guests'
	@echo 'make guest-image  the test guest (Debian kernel, busybox) in $(BUILD)/guest/'
	@echo 'make demo       deps, build, run the switch on a veth test-bed with two guests'
	@echo '                and steady traffic until Ctrl-C, to try flipswitchctl on'
	@echo '                (DURATION=N: for N seconds; GUESTS=qemu: the guests boot in QEMU)'
	@echo 'make bench      the benchmarks side by side, CPU per packet at fixed rates, the guest driver (~35 min), $(BUILD)/bench/'
	@echo 'make bench-quick  the same in ~3 minutes, fewer sizes, CPU per packet at 100 k frames/s'
	@echo 'make bench-guest  a guest on flipswitch_net next to virtio-net + tap (~5 min, TCG)'
	@echo 'make fuzz       the libFuzzer targets (tests/fuzz/), each for FUZZ_SECS (default 60)'
	@echo 'make soak       full rate to 8 VMs for SOAK_SECS (default 3600) while guests, VMs and'
	@echo '                captures come and go; fails if RSS, fds or time a packet grow (root),'
	@echo '                $(BUILD)/soak/results.json (SOAK_SAMPLE: seconds between samples, 60)'
	@echo 'make install    install binaries, man pages, bash completion, systemd unit'
	@echo '                (PREFIX=$(PREFIX), DESTDIR for staging)'
	@echo 'make deb        Debian packages flipswitch and flipswitch-guest in $(BUILD)/deb/'
	@echo 'make clean      remove $(BUILD)/'
	@echo 'V=1             show the commands'

deps:
	$(Q)tools/install-deps.sh

deps-test:
	$(Q)tools/install-deps.sh test

# --- BPF --------------------------------------------------------------------
$(BUILD)/flipswitch.bpf.o: bpf/flipswitch.bpf.c include/flipswitch/xdp_shared.h | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(SKEL): $(BUILD)/flipswitch.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name flipswitch_bpf > $@

# --- daemon -----------------------------------------------------------------
$(BUILD)/obj/%.o: user/%.c $(wildcard user/*.h) $(wildcard include/flipswitch/*.h) $(SKEL) | $(BUILD)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj-debug/%.o: user/%.c $(wildcard user/*.h) $(wildcard include/flipswitch/*.h) $(SKEL) | $(BUILD)/obj-debug
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(DEBUG_CFLAGS) -c $< -o $@

$(BUILD)/libfsd.a: $(DAEMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libfsd-debug.a: $(DEBUG_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/flipswitchd: $(BUILD)/obj/main.o $(BUILD)/libfsd.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_DAEMON)

# The debug daemon checks the frame-ownership invariant continuously and
# runs under ASan/UBSan; the integration tests use it.
$(BUILD)/flipswitchd-debug: $(BUILD)/obj-debug/main.o $(BUILD)/libfsd-debug.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(DEBUG_CFLAGS) -o $@ $^ $(LIBS_DAEMON)

# --- guest side (guest/: what runs inside a VM) ----------------------------
$(BUILD)/obj/fs%.o: guest/lib/fs%.c guest/lib/fs%.h include/flipswitch/ring.h include/flipswitch/doorbell.h | $(BUILD)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/flipswitch-guest: guest/flipswitch-guest.c tools/pcapout.h tools/toolutil.h $(wildcard guest/lib/*.h) $(GUEST_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -pthread -o $@ $(filter %.c %.o,$^) -lpcap

# The guest side as it runs inside a QEMU guest: static, no libpcap.
$(BUILD)/guest/flipswitch-guest: guest/flipswitch-guest.c tools/toolutil.h $(wildcard guest/lib/*) include/flipswitch/ring.h include/flipswitch/doorbell.h
	$(call msg,LD,$@)
	$(Q)mkdir -p $(BUILD)/guest
	$(Q)$(CC) $(CFLAGS) -pthread -DFSG_NO_PCAP -static -o $@ guest/flipswitch-guest.c $(GUEST_LIB)

# The test guest's XDP loader for the driver's tests (static, no libbpf).
$(BUILD)/guest/fsn-xdp: guest/linux/fsn-xdp.c
	$(call msg,LD,$@)
	$(Q)mkdir -p $(BUILD)/guest
	$(Q)$(CC) $(CFLAGS) -static -o $@ $<

# The benchmarks' UDP receiver inside the test guest (static).
$(BUILD)/guest/fs-udpsink: tools/bench/fs-udpsink.c
	$(call msg,LD,$@)
	$(Q)mkdir -p $(BUILD)/guest
	$(Q)$(CC) $(CFLAGS) -static -o $@ $<

# The test guest: Debian's kernel and busybox, the static guest side, the
# flipswitch_net driver (built by mkguest.sh against Debian's headers).
guest-image: $(BUILD)/guest/flipswitch-guest $(BUILD)/guest/fsn-xdp $(BUILD)/guest/fs-udpsink
	$(Q)tools/mkguest.sh $(BUILD)/guest

# --- host tools -------------------------------------------------------------

# flipswitchctl: tools/ctl/ (client, output, args, commands); the unit
# tests link libctl.a to test its parser by the real command table.
$(BUILD)/obj/ctl/%.o: tools/ctl/%.c $(wildcard tools/ctl/*.h) tools/pcapout.h tools/toolutil.h include/flipswitch/ctl.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The Prometheus text is user/prom.c's, the daemon's metrics endpoint's
# too: libctl.a carries it for flipswitchctl and the tests that link both.
$(BUILD)/libctl.a: $(CTL_OBJS) $(BUILD)/obj/prom.o
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/flipswitchctl: $(BUILD)/obj/ctl/main.o $(BUILD)/libctl.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -ljansson -lpcap -lm

$(BUILD)/flipswitch-qemu-args: tools/flipswitch-qemu-args.c $(BUILD)/libfsd.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS_DAEMON)

$(BUILD)/fs-pkt: tools/fs-pkt.c tools/pcapout.h tools/toolutil.h
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lpcap

# --- benchmarks (tools/bench/, docs/performance.md) -------------------------
$(BUILD)/fs-gen: tools/bench/fs-gen.c tools/toolutil.h | $(BUILD)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lxdp -lbpf

$(BUILD)/fs-sink: tools/bench/fs-sink.c tools/toolutil.h $(GUEST_OBJS) $(SKEL)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(GUEST_OBJS) -lxdp -lbpf -lelf -lz

# The fake NIC (tests/support/fakenic.h) is shared with the unit tests.
$(BUILD)/fs-core-bench: tools/bench/fs-core-bench.c tests/support/fakenic.h $(BUILD)/libfsd.a $(GUEST_OBJS) $(SKEL)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/support -o $@ $< $(BUILD)/libfsd.a $(GUEST_OBJS) $(LIBS_DAEMON)

# --- tests ------------------------------------------------------------------
# Every tests/unit/test_*.c is a cmocka binary. One that mocks library or
# system calls names them, WRAP_<test> := socket connect, and is linked
# with -Wl,--wrap= for each: its __wrap_socket decides, __real_socket is
# the real one (tests/README.md).
comma := ,
WRAP_test_ctl_client := socket connect
WRAP_test_pool := mmap ftruncate
WRAP_test_vmport_region := mmap ftruncate

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(wildcard tests/support/*.h) $(BUILD)/libfsd.a $(BUILD)/libctl.a $(GUEST_OBJS) $(SKEL) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itests/support -o $@ $< $(BUILD)/libfsd.a $(BUILD)/libctl.a $(GUEST_OBJS) $(LIBS_TEST) $(foreach f,$(WRAP_$*),-Wl$(comma)--wrap=$(f))

# --- fuzzing (tests/fuzz/): libFuzzer targets over the daemon's code -----
# built with clang, ASan and UBSan; make fuzz runs each for FUZZ_SECS,
# reading the corpus in tests/fuzz/NAME/ and adding what it finds to
# $(BUILD)/fuzz/corpus-NAME/. make test runs each for a few seconds.
FUZZ_SECS  ?= 60
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
	       -Wno-gnu-variable-sized-type-not-at-end \
	       -fno-omit-frame-pointer -Iinclude -Iuser -Itools -Iguest/lib -I$(BUILD) \
	       -D_GNU_SOURCE -fsanitize=address,undefined
FUZZ_OBJS  := $(patsubst user/%.c,$(BUILD)/obj-fuzz/%.o,$(DAEMON_SRCS))
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

$(BUILD)/obj-fuzz/%.o: user/%.c $(wildcard user/*.h) $(wildcard include/flipswitch/*.h) $(SKEL) | $(BUILD)/obj-fuzz
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/libfsd-fuzz.a: $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libfsd-fuzz.a | $(BUILD)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libfsd-fuzz.a $(LIBS_DAEMON)

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh $(FUZZ_SECS)

# The soak (docs/performance.md): tests/soak.sh; make test runs 20 s of it.
SOAK_SECS   ?= 3600
SOAK_SAMPLE ?= 60
soak: all
	$(Q)SOAK_SECS=$(SOAK_SECS) SOAK_SAMPLE=$(SOAK_SAMPLE) tests/soak.sh

test: deps-test
	$(Q)$(MAKE) --no-print-directory all guest-image fuzz-build
	$(Q)tests/run.sh all

test-unit: all
	$(Q)tests/run.sh unit

test-integration: all fuzz-build
	$(Q)tests/run.sh integration

test-qemu: deps-test
	$(Q)$(MAKE) --no-print-directory all guest-image
	$(Q)tests/run.sh qemu

# Benchmarks: docs/performance.md. Results in $(BUILD)/bench/results.json.
# make bench ends with the guest driver's cases (make bench-guest).
bench: all
	$(Q)tools/install-deps.sh bench
	$(Q)tools/bench/bench.sh
	$(Q)$(MAKE) --no-print-directory bench-guest

bench-quick: all
	$(Q)tools/install-deps.sh bench
	$(Q)tools/bench/bench.sh --quick

# The guest driver next to virtio-net on a tap in a bridge, same TCG guest.
bench-guest: deps
	$(Q)$(MAKE) --no-print-directory all guest-image
	$(Q)tools/bench/guest-net.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all $(if $(filter qemu,$(GUESTS)),guest-image)
	$(Q)GUESTS=$(GUESTS) DURATION=$(DURATION) tools/demo.sh

$(BUILD) $(BUILD)/obj $(BUILD)/obj-debug $(BUILD)/obj-fuzz $(BUILD)/tests $(BUILD)/fuzz:
	$(Q)mkdir -p $@

PREFIX ?= /usr/local
GUEST_IMAGE_DIR = $(PREFIX)/share/flipswitch/guest
# flipswitch-run-guest boots the test guest; make install takes its image
# (make guest-image) when it has been built.
install: $(BUILD)/flipswitchd $(BUILD)/flipswitchctl $(BUILD)/flipswitch-guest \
	 $(BUILD)/flipswitch-qemu-args
	install -D -m 0755 $(BUILD)/flipswitchd $(DESTDIR)$(PREFIX)/sbin/flipswitchd
	install -D -m 0755 $(BUILD)/flipswitchctl $(DESTDIR)$(PREFIX)/bin/flipswitchctl
	install -D -m 0755 $(BUILD)/flipswitch-guest $(DESTDIR)$(PREFIX)/bin/flipswitch-guest
	install -D -m 0755 $(BUILD)/flipswitch-qemu-args $(DESTDIR)$(PREFIX)/bin/flipswitch-qemu-args
	sed -e 's|^QEMU_ARGS=.*|QEMU_ARGS=$(PREFIX)/bin/flipswitch-qemu-args|' \
	    -e 's|^GUEST_DIR=.*|GUEST_DIR=$${FLIPSWITCH_GUEST_DIR:-$(GUEST_IMAGE_DIR)}|' \
	    tools/flipswitch-run-guest | \
		install -D -m 0755 /dev/stdin $(DESTDIR)$(PREFIX)/bin/flipswitch-run-guest
	$(if $(wildcard $(BUILD)/guest/vmlinux $(BUILD)/guest/initramfs.gz),\
	install -D -m 0644 -t $(DESTDIR)$(GUEST_IMAGE_DIR) $(BUILD)/guest/vmlinux $(BUILD)/guest/initramfs.gz)
	install -D -m 0644 docs/man/flipswitchd.8 $(DESTDIR)$(PREFIX)/share/man/man8/flipswitchd.8
	install -D -m 0644 docs/man/flipswitchctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/flipswitchctl.8
	install -D -m 0644 docs/man/flipswitch.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/flipswitch.conf.5
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man1 docs/man/flipswitch-guest.1 \
		docs/man/flipswitch-qemu-args.1 docs/man/flipswitch-run-guest.1
	install -D -m 0644 tools/flipswitchctl.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/flipswitchctl
	install -D -m 0644 configs/example.conf $(DESTDIR)/etc/flipswitch/flipswitch.conf.example
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' tools/flipswitchd.service.in | \
		install -D -m 0644 /dev/stdin $(DESTDIR)/etc/systemd/system/flipswitchd.service

# Debian packages (debian/): dpkg-buildpackage on a copy of the tree, so
# that its output stays in $(BUILD)/deb/ instead of beside the tree.
deb:
	$(Q)rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/flipswitch
	$(Q)tar -c --exclude-vcs --exclude=./$(BUILD) . | tar -x -C $(BUILD)/deb/flipswitch
	$(Q)cd $(BUILD)/deb/flipswitch && dpkg-buildpackage -us -uc -b
	$(Q)ls $(BUILD)/deb/*.deb

clean:
	rm -rf $(BUILD)
