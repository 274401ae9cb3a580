# oms_add_plugin_test(NAME <test> SCRIPT <file>
#                     [PLUGINS <stock plugin>...]   e.g. users inventory orders
#                     [TARGETS <plugin target>...]  default: every plugin of this project (below)
#                     [TIMEOUT <seconds>]           how long SCRIPT may run; default 120
#                     [ENV <VAR=value>...])         for the host and the script
#
# Adds the CTest test <test>: the SDK's driver (oms-plugin-test) starts a
# throwaway PostgreSQL (or, with DATABASE_URL set when ctest runs, a fresh
# database on that server), an oms-host on 127.0.0.1 with the stock PLUGINS
# and your plugins, an admin account when the users plugin is loaded, and runs
# SCRIPT with OMS_URL, DATABASE_URL, OMS_HOST, OMS_HOST_LOG, OMS_ADMIN_EMAIL,
# OMS_ADMIN_PASSWORD (and more: see the plugin guide, "Testing against a
# host"). The test passes when SCRIPT exits 0 and the host stopped cleanly.
#
# TARGETS defaults to every MODULE library of this project (PROJECT_SOURCE_DIR
# and its subdirectories) that links OmsSdk::sdk — what oms_add_plugin()
# makes — collected when the project's top directory has been read, so the
# plugins may be declared before or after the test. SCRIPT is run directly
# when executable, else with bash. ctest does not build: build first.
#
# Cache variables:
#   OMS_HOST               the oms-host binary (default: find_program(oms-host),
#                          looking first in the bin/ of the prefix the SDK is installed in)
#   OMS_STOCK_PLUGIN_DIR   the folder of the stock plugins (default: where that host
#                          looks by itself: <bin>/../plugins in a build tree, else
#                          <bin>/../lib/oms/plugins)
# Configuring fails with one message when the host or the stock plugins cannot be found.
include_guard(GLOBAL)
if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "OmsPluginTest.cmake needs CMake 3.19 or newer (cmake_language(DEFER))")
endif()

# Where the driver and pgcluster.sh are: beside each other in the installed SDK
# (OmsSdkConfig.cmake sets OMS_SDK_SCRIPT_DIR), or in the OMS source tree.
if(DEFINED OMS_SDK_SCRIPT_DIR)
  set(_oms_pt_driver "${OMS_SDK_SCRIPT_DIR}/oms-plugin-test")
  set(_oms_pt_pgcluster "${OMS_SDK_SCRIPT_DIR}/pgcluster.sh")
  set(_oms_pt_prefix "${OMS_SDK_PREFIX}")
else()
  get_filename_component(_oms_pt_driver "${CMAKE_CURRENT_LIST_DIR}/../scripts/oms-plugin-test" ABSOLUTE)
  get_filename_component(_oms_pt_pgcluster "${CMAKE_CURRENT_LIST_DIR}/../../scripts/pgcluster.sh" ABSOLUTE)
  set(_oms_pt_prefix "")
endif()
set_property(GLOBAL PROPERTY OMS_PLUGIN_TEST_DRIVER "${_oms_pt_driver}")
set_property(GLOBAL PROPERTY OMS_PLUGIN_TEST_PGCLUSTER "${_oms_pt_pgcluster}")
set_property(GLOBAL PROPERTY OMS_PLUGIN_TEST_PREFIX "${_oms_pt_prefix}")
unset(_oms_pt_driver)
unset(_oms_pt_pgcluster)
unset(_oms_pt_prefix)

# Finds OMS_HOST and sets <out> to the stock plugin folder (OMS_STOCK_PLUGIN_DIR,
# else derived from OMS_HOST), or stops configuring with one message.
function(_oms_plugin_test_find_host need_stock out)
  get_property(prefix GLOBAL PROPERTY OMS_PLUGIN_TEST_PREFIX)
  set(hints "")
  if(prefix)
    list(APPEND hints "${prefix}/bin")
  endif()
  find_program(OMS_HOST oms-host HINTS ${hints} DOC "The oms-host binary that oms_add_plugin_test() runs")
  if(NOT OMS_HOST OR NOT EXISTS "${OMS_HOST}" OR IS_DIRECTORY "${OMS_HOST}")
    message(FATAL_ERROR "oms_add_plugin_test: oms-host not found (OMS_HOST=${OMS_HOST}). "
      "Install the oms package, or pass -DOMS_HOST=/path/to/oms-host "
      "(or configure without your tests, e.g. -DBUILD_TESTING=OFF if your project guards them with it).")
  endif()
  set(OMS_STOCK_PLUGIN_DIR "" CACHE PATH
    "The folder of the stock OMS plugins (<name>.so) for oms_add_plugin_test(); empty: where OMS_HOST looks by itself")
  if(OMS_STOCK_PLUGIN_DIR)
    get_filename_component(dir "${OMS_STOCK_PLUGIN_DIR}" ABSOLUTE)
  else()
    # Where this host looks when OMS_PLUGIN_DIR is unset: <dir of the real
    # binary>/../plugins (a build tree), else <...>/../lib/oms/plugins (installed).
    get_filename_component(real "${OMS_HOST}" REALPATH)
    get_filename_component(bin "${real}" DIRECTORY)
    get_filename_component(base "${bin}" DIRECTORY)
    set(dir "${base}/lib/oms/plugins")
    if(IS_DIRECTORY "${base}/plugins")
      set(dir "${base}/plugins")
    endif()
  endif()
  if(need_stock AND NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR "oms_add_plugin_test: the stock plugin folder ${dir} does not exist "
      "(OMS_HOST=${OMS_HOST}). Pass -DOMS_STOCK_PLUGIN_DIR=<the folder with users.so, orders.so, ...>.")
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

function(oms_add_plugin_test)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "NAME;SCRIPT;TIMEOUT" "PLUGINS;TARGETS;ENV")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "oms_add_plugin_test: unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_NAME)
    message(FATAL_ERROR "oms_add_plugin_test: NAME <test> is required")
  endif()
  if(NOT ARG_SCRIPT)
    message(FATAL_ERROR "oms_add_plugin_test(${ARG_NAME}): SCRIPT <file> is required")
  endif()
  get_filename_component(script "${ARG_SCRIPT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${script}" OR IS_DIRECTORY "${script}")
    message(FATAL_ERROR "oms_add_plugin_test(${ARG_NAME}): SCRIPT ${script} does not exist")
  endif()
  if(NOT DEFINED ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  elseif(NOT ARG_TIMEOUT MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "oms_add_plugin_test(${ARG_NAME}): TIMEOUT must be a number of seconds, not '${ARG_TIMEOUT}'")
  endif()
  foreach(kv IN LISTS ARG_ENV)
    if(NOT kv MATCHES "^[A-Za-z_][A-Za-z0-9_]*=")
      message(FATAL_ERROR "oms_add_plugin_test(${ARG_NAME}): ENV entry '${kv}' is not VAR=value")
    endif()
  endforeach()

  set(need_stock FALSE)
  if(ARG_PLUGINS)
    set(need_stock TRUE)
  endif()
  _oms_plugin_test_find_host(${need_stock} stock_dir)
  set(missing "")
  foreach(p IN LISTS ARG_PLUGINS)
    if(NOT EXISTS "${stock_dir}/${p}.so")
      list(APPEND missing "${p}")
    endif()
  endforeach()
  if(missing)
    file(GLOB present RELATIVE "${stock_dir}" "${stock_dir}/*.so")
    list(TRANSFORM present REPLACE "\\.so$" "")
    list(JOIN missing ", " missing)
    list(JOIN present ", " present)
    message(FATAL_ERROR "oms_add_plugin_test(${ARG_NAME}): no stock plugin ${missing} in "
      "${stock_dir} (there: ${present}). Set OMS_STOCK_PLUGIN_DIR, or fix PLUGINS.")
  endif()

  get_property(driver GLOBAL PROPERTY OMS_PLUGIN_TEST_DRIVER)
  get_property(pgcluster GLOBAL PROPERTY OMS_PLUGIN_TEST_PGCLUSTER)
  set(args --name "${ARG_NAME}" --host "${OMS_HOST}" --stock-dir "${stock_dir}"
           --pgcluster "${pgcluster}" --timeout "${ARG_TIMEOUT}")
  foreach(p IN LISTS ARG_PLUGINS)
    list(APPEND args --stock "${p}")
  endforeach()
  foreach(kv IN LISTS ARG_ENV)
    list(APPEND args --env "${kv}")
  endforeach()
  # The plugin files: written at generate time, once every target is known.
  string(MAKE_C_IDENTIFIER "${ARG_NAME}" id)
  set(list_file "${CMAKE_CURRENT_BINARY_DIR}/oms_plugin_test_${id}$<$<BOOL:$<CONFIG>>:-$<CONFIG>>.plugins")
  list(APPEND args --plugin-list "${list_file}")
  # (A deferred call's arguments are evaluated when it runs: EVAL fixes them now.)
  cmake_language(EVAL CODE "cmake_language(DEFER DIRECTORY [==[${PROJECT_SOURCE_DIR}]==] CALL
    _oms_plugin_test_write_list [==[${ARG_NAME}]==] [==[${list_file}]==] [==[${PROJECT_SOURCE_DIR}]==] [==[${ARG_TARGETS}]==])")

  add_test(NAME ${ARG_NAME} COMMAND bash "${driver}" ${args} -- "${script}")
  # The driver bounds SCRIPT by TIMEOUT; the rest covers starting PostgreSQL
  # and the host, and stopping them, so CTest never kills the driver before
  # it cleaned up.
  math(EXPR ctest_timeout "${ARG_TIMEOUT} + 180")
  set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT ${ctest_timeout} LABELS oms_plugin_test)
endfunction()

# Every target of DIR and its subdirectories that oms_add_plugin made: a
# MODULE library that links OmsSdk::sdk.
function(_oms_plugin_test_collect dir out)
  set(found "")
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    get_target_property(libs ${t} LINK_LIBRARIES)
    if(type STREQUAL "MODULE_LIBRARY" AND "OmsSdk::sdk" IN_LIST libs)
      list(APPEND found ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _oms_plugin_test_collect("${sub}" sub_found)
    list(APPEND found ${sub_found})
  endforeach()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

function(_oms_plugin_test_write_list name list_file project_dir targets)
  if(NOT targets)
    _oms_plugin_test_collect("${project_dir}" targets)
    if(NOT targets)
      message(FATAL_ERROR "oms_add_plugin_test(${name}): this project has no plugin (no oms_add_plugin() "
        "target under ${project_dir}); name the plugins to load with TARGETS")
    endif()
  endif()
  set(content "")
  foreach(t IN LISTS targets)
    if(NOT TARGET ${t})
      message(FATAL_ERROR "oms_add_plugin_test(${name}): TARGETS names '${t}', which is not a target")
    endif()
    get_target_property(type ${t} TYPE)
    if(NOT type STREQUAL "MODULE_LIBRARY" AND NOT type STREQUAL "SHARED_LIBRARY")
      message(FATAL_ERROR "oms_add_plugin_test(${name}): TARGETS names '${t}', which is a ${type}, not a plugin")
    endif()
    string(APPEND content "$<TARGET_FILE:${t}>\n")
  endforeach()
  file(GENERATE OUTPUT "${list_file}" CONTENT "${content}")
endfunction()
