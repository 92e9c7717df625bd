# The ros-* PyPI wheels export CMake targets whose include directories point at the
# Python of the manylinux image that built them (/opt/python/cp311-cp311/...). Rewrite
# those paths to this interpreter's include directory and NumPy's, so that nothing has to
# be created under /opt. Call ros_pose_estimation_fix_wheel_paths() after all
# find_package() and rosidl_generate_interfaces() calls of a package.
set(_WHEEL_PYTHON_PREFIX "/opt/python/cp[0-9]+-cp[0-9]+")

function(ros_pose_estimation_fix_wheel_paths)
  if(NOT Python3_INCLUDE_DIRS OR NOT Python3_NumPy_INCLUDE_DIRS)
    find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  endif()
  list(GET Python3_INCLUDE_DIRS 0 _py_include)
  list(GET Python3_NumPy_INCLUDE_DIRS 0 _np_include)
  get_property(_targets DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs OR NOT _dirs MATCHES "${_WHEEL_PYTHON_PREFIX}")
      continue()
    endif()
    set(_fixed "")
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^${_WHEEL_PYTHON_PREFIX}/include/python")
        set(_dir "${_py_include}")
      elseif(_dir MATCHES "^${_WHEEL_PYTHON_PREFIX}/.*numpy/.*include$")
        set(_dir "${_np_include}")
      endif()
      list(APPEND _fixed "${_dir}")
    endforeach()
    list(REMOVE_DUPLICATES _fixed)
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endforeach()
endfunction()
