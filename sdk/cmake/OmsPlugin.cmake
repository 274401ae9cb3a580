# oms_add_plugin(<name> SOURCES <files...> [MIGRATIONS <dir>] [OUTPUT_DIRECTORY <dir>])
#
# Builds <name>.so: a dlopen()able MODULE with hidden visibility that exports
# only `oms_plugin_entry`, with the SQL files of MIGRATIONS embedded in it.
# Link anything else the plugin needs with target_link_libraries(<name> PRIVATE ...).
include_guard(GLOBAL)

function(oms_embed_migrations target dir function)
  set(script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/OmsEmbedMigrations.cmake")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cpp")
  set(sql_files "")
  if(dir)
    get_filename_component(dir "${dir}" ABSOLUTE)
    file(GLOB sql_files CONFIGURE_DEPENDS "${dir}/*.sql")
  endif()
  # The folder's listing, rewritten only when it changes: a removed or renamed
  # file re-embeds too (the files' own times cannot show a removal).
  set(listing "${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.list")
  file(CONFIGURE OUTPUT "${listing}" CONTENT "${sql_files}")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND "${CMAKE_COMMAND}" -DMIGRATIONS_DIR=${dir} -DOUTPUT=${out} -DFUNCTION=${function}
            -P "${script}"
    # The script leaves an unchanged file alone; the output must still be newer than its inputs.
    COMMAND "${CMAKE_COMMAND}" -E touch "${out}"
    DEPENDS ${sql_files} "${listing}" "${script}"
    COMMENT "Embedding SQL migrations of ${target}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()

function(oms_add_plugin name)
  cmake_parse_arguments(ARG "" "MIGRATIONS;OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE OmsSdk::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  # A plugin must resolve every symbol at load time (the host uses RTLD_NOW),
  # and exports nothing but its entry: hidden visibility still leaves weak
  # template instantiations and typeinfo of the C++ library global.
  if(NOT APPLE)
    set(exports "${CMAKE_CURRENT_BINARY_DIR}/${name}_exports.map")
    file(WRITE "${exports}" "{ global: oms_plugin_entry; local: *; };\n")
    target_link_options(${name} PRIVATE "LINKER:--no-undefined" "LINKER:--version-script=${exports}")
    set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${exports}")
  endif()
  oms_embed_migrations(${name} "${ARG_MIGRATIONS}" oms_sdk_embedded_migrations)
endfunction()
