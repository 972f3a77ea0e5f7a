# Switchboard — top-level build.
#
#   make run     install what is missing, build, start the local stack (./var)
#   make demo    one simulated call through the whole stack, then its transcript
#   make check   install what is missing, build, run every test
#   make asan    the same test suite under AddressSanitizer + UBSan
#   make bench   benchmarks (figures go to docs/BENCHMARKS.md by hand)
#   make install PREFIX=/usr/local DESTDIR=
#
# Everything built lands under $(BUILD) (default build/; asan uses build/asan).

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CC      ?= cc
PKGS    := libmicrohttpd libwebsockets libcurl jansson sqlite3 openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
SAN     ?=
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CPPFLAGS_ALL := -std=gnu11 -D_GNU_SOURCE -DSB_VERSION='"$(VERSION)"' -Icommon \
	-I$(BUILD)/gen $(PKG_CFLAGS)
ALL_CFLAGS = $(CPPFLAGS_ALL) $(EXTRA_INC) $(WARN) $(CFLAGS) $(SAN) -MMD -MP
LDLIBS_ALL := $(PKG_LIBS) -lnng -lpthread -lm

# The offline voice engine (tools/voice) alone links the speech libraries:
# pocketsphinx (ASR), speexdsp (resampling), flite (TTS; no .pc file) and the
# WebRTC VAD exported by libwebrtc-audio-processing (no header; see
# tools/voice/voice_vad.c). Tests named voice_*_test link its objects too.
VOICE_PKGS   := pocketsphinx sphinxbase speexdsp
VOICE_CFLAGS := $(shell pkg-config --cflags $(VOICE_PKGS) 2>/dev/null)
VOICE_LIBS   := $(shell pkg-config --libs $(VOICE_PKGS) 2>/dev/null) \
	-lflite_cmu_us_kal -lflite_cmu_us_rms -lflite_cmu_us_slt -lflite_cmu_us_awb \
	-lflite_usenglish -lflite_cmulex -lflite -lwebrtc_audio_processing
VOICE_OBJ    = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out tools/voice/voice.c %_test.c,$(wildcard tools/voice/*.c)))

# ---- generated schema tables --------------------------------------------
SCHEMAS    := $(sort $(wildcard schemas/*.json)) $(sort $(wildcard schemas/migrations/*.sql))
SCHEMAGEN  := $(BUILD)/bin/sb-schemagen
GEN_C      := $(BUILD)/gen/sb_schema_gen.c
GEN_H      := $(BUILD)/gen/sb_schema_gen.h

# ---- common library -----------------------------------------------------
COMMON_SRC := $(filter-out %_test.c,$(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/sb_schema_gen.o
LIBCOMMON  := $(BUILD)/lib/libsbcommon.a

# ---- daemons and tools: folder -> binary ---------------------------------
# folder:binary — a folder without sources yet is skipped.
ALL_DAEMONS := store:sb-store gateway:sb-gateway rag-worker:sb-rag-worker \
	media-bridge:sb-media-bridge scheduler:sb-scheduler
ALL_TOOLS   := tools/tap:sb-tap tools/cloudsim:sb-cloudsim tools/callsim:sb-callsim \
	tools/realtime-sim:sb-realtime-sim tools/voice:sb-voice
have_src = $(foreach d,$(1),$(if $(wildcard $(word 1,$(subst :, ,$(d)))/*.c),$(d)))
DAEMONS := $(call have_src,$(ALL_DAEMONS))
TOOLS   := $(call have_src,$(ALL_TOOLS))
BINS    := $(foreach d,$(DAEMONS) $(TOOLS),$(BUILD)/bin/$(word 2,$(subst :, ,$(d))))

# ---- tests ---------------------------------------------------------------
UNIT_SRC   := $(wildcard common/*_test.c)
UNIT_BINS  := $(UNIT_SRC:common/%.c=$(BUILD)/tests/common_%)
TLIB_SRC   := $(wildcard tests/lib/*.c)
TLIB_OBJ   := $(TLIB_SRC:%.c=$(BUILD)/obj/%.o)
ITEST_SRC  := $(wildcard tests/*_test.c)
ITEST_BINS := $(ITEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

# ---- systemd units, generated so ExecStart follows PREFIX ----------------
UNITS      := $(filter $(notdir $(BINS)),$(shell awk '!/^\#/ && NF {print $$1}' deploy/systemd/units.txt))
UNIT_FILES := $(UNITS:%=$(BUILD)/systemd/%.service)

.PHONY: all deps run demo check test asan bench install clean systemd
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BINS) $(UNIT_FILES)

systemd: $(UNIT_FILES)

deps:
	@tools/deps.sh

# ---- rules ---------------------------------------------------------------
$(SCHEMAGEN): tools/schemagen/schemagen.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(WARN) $(CFLAGS) $(SAN) -o $@ $< $(LDLIBS_ALL)

$(GEN_C) $(GEN_H) &: $(SCHEMAGEN) $(SCHEMAS)
	@mkdir -p $(BUILD)/gen
	$(SCHEMAGEN) $(BUILD)/gen $(SCHEMAS)

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Tests and benchmarks also see the harness.
$(BUILD)/obj/tests/%.o: EXTRA_INC := -Itests/lib
$(BUILD)/obj/tools/voice/%.o: EXTRA_INC := $(VOICE_CFLAGS)
$(BUILD)/obj/tests/voice_%.o: EXTRA_INC := -Itests/lib -Itools/voice $(VOICE_CFLAGS)
$(BUILD)/obj/tests/bench/voice_%.o: EXTRA_INC := -Itests/lib -Itools/voice $(VOICE_CFLAGS)
$(BUILD)/bin/sb-voice: LDLIBS_ALL += $(VOICE_LIBS)
$(BUILD)/obj/common/%_test.o: EXTRA_INC := -Itests/lib

$(BUILD)/systemd/%.service: deploy/systemd/daemon.service.in deploy/systemd/units.txt Makefile
	@mkdir -p $(@D)
	sed -e 's|@NAME@|$*|g' -e 's|@BINDIR@|$(PREFIX)/bin|g' \
	    -e 's|@DOCDIR@|$(PREFIX)/share/doc/switchboard|g' -e 's|@DATADIR@|$(PREFIX)/share/switchboard|g' \
	    -e "s|@WHAT@|$$(awk '$$1 == "$*" { $$1 = ""; sub(/^ +/, ""); print }' deploy/systemd/units.txt)|" $< > $@

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# One binary per folder: every non-test .c in the folder.
define BIN_RULE
$(BUILD)/bin/$(2): $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out %_test.c,$(wildcard $(1)/*.c))) $(LIBCOMMON)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$(SAN) -o $$@ $$^ $$(LDLIBS_ALL)
endef
$(foreach d,$(DAEMONS) $(TOOLS),$(eval $(call BIN_RULE,$(word 1,$(subst :, ,$(d))),$(word 2,$(subst :, ,$(d))))))

$(BUILD)/tests/common_%: $(BUILD)/obj/common/%.o $(TLIB_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_ALL) -lcmocka

$(BUILD)/tests/voice_%: $(BUILD)/obj/tests/voice_%.o $(VOICE_OBJ) $(TLIB_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_ALL) $(VOICE_LIBS) -lcmocka

$(BUILD)/bench/voice_%: $(BUILD)/obj/tests/bench/voice_%.o $(VOICE_OBJ) $(TLIB_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_ALL) $(VOICE_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TLIB_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_ALL) -lcmocka

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TLIB_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_ALL)

# ---- top-level targets ---------------------------------------------------
test: all $(UNIT_BINS) $(ITEST_BINS)
	@tests/run.sh $(BUILD)

check: deps
	@$(MAKE) --no-print-directory test

asan: deps
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@tests/bench/run.sh $(BUILD)

run: deps
	@$(MAKE) --no-print-directory all
	@tools/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh $(BUILD)

SHARE := $(DESTDIR)$(PREFIX)/share/switchboard
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/schemas/migrations \
		$(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(PREFIX)/share/doc/switchboard
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 schemas/*.json $(SHARE)/schemas/
	install -m 0644 schemas/migrations/*.sql $(SHARE)/schemas/migrations/
	if [ -d scheduler/templates ]; then install -d $(SHARE)/templates && \
		install -m 0644 scheduler/templates/* $(SHARE)/templates/; fi
	install -m 0644 $(UNIT_FILES) deploy/systemd/switchboard.target $(DESTDIR)$(PREFIX)/lib/systemd/system/
	install -m 0644 deploy/systemd/switchboard.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/switchboard.conf
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/switchboard/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
