# waveglow_add_audio_test(NAME name COMMAND cmd [args...] OUTPUT out.wav REFERENCE golden.wav
#                         [MAX_ABS x] [MIN_SNR db] [MAX_LSD db] [MAX_MCD db] [MAX_LENGTH_DIFF n]
#                         [MAX_DELAY_MS ms] [MATCH_GAIN] [WORKING_DIRECTORY dir])
#
# Registers a CTest test that runs COMMAND (which must write OUTPUT), then holds OUTPUT to the
# golden REFERENCE with `waveglow compare` and the given thresholds. The test fails when the
# command fails, the output is missing, or a threshold does not hold; `waveglow compare` names
# the measure that failed. Relative OUTPUT and REFERENCE paths are taken from the working
# directory (the current binary directory by default).
set(_WAVEGLOW_AUDIO_TEST_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/WaveglowAudioTestRun.cmake")

function(waveglow_add_audio_test)
  cmake_parse_arguments(PARSE_ARGV 0 A "MATCH_GAIN"
    "NAME;OUTPUT;REFERENCE;MAX_ABS;MIN_SNR;MAX_LSD;MAX_MCD;MAX_LENGTH_DIFF;MAX_DELAY_MS;WORKING_DIRECTORY" "COMMAND")
  foreach(req NAME COMMAND OUTPUT REFERENCE)
    if(NOT A_${req})
      message(FATAL_ERROR "waveglow_add_audio_test: ${req} is required")
    endif()
  endforeach()
  if(A_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "waveglow_add_audio_test(${A_NAME}): unknown arguments ${A_UNPARSED_ARGUMENTS}")
  endif()
  set(compare "")
  foreach(opt MAX_ABS MIN_SNR MAX_LSD MAX_MCD MAX_LENGTH_DIFF MAX_DELAY_MS)
    if(DEFINED A_${opt})
      string(TOLOWER "${opt}" flag)
      string(REPLACE "_" "-" flag "${flag}")
      list(APPEND compare "--${flag}" "${A_${opt}}")
    endif()
  endforeach()
  if(A_MATCH_GAIN)
    list(APPEND compare "--match-gain")
  endif()
  if(NOT A_WORKING_DIRECTORY)
    set(A_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  # executable targets anywhere in COMMAND become their files, as add_test does for the first
  set(command "")
  foreach(arg IN LISTS A_COMMAND)
    if(TARGET "${arg}")
      get_target_property(type "${arg}" TYPE)
      if(type STREQUAL "EXECUTABLE")
        set(arg "$<TARGET_FILE:${arg}>")
      endif()
    endif()
    list(APPEND command "${arg}")
  endforeach()
  # lists travel through -D as |-joined strings
  list(JOIN command "|" cmd)
  list(JOIN compare "|" cmp)
  add_test(NAME ${A_NAME}
    COMMAND ${CMAKE_COMMAND} "-DWG_COMMAND=${cmd}" "-DWG_COMPARE=${cmp}" "-DWG_OUTPUT=${A_OUTPUT}"
      "-DWG_REFERENCE=${A_REFERENCE}" "-DWG_WAVEGLOW=$<TARGET_FILE:waveglow::cli>"
      -P "${_WAVEGLOW_AUDIO_TEST_SCRIPT}"
    WORKING_DIRECTORY "${A_WORKING_DIRECTORY}")
endfunction()
