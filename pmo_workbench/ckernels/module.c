/* Makes the kernels' shared library an importable (empty) extension module, so that setuptools builds and
 * installs it like any other; pmo_workbench.ckernels loads its functions with ctypes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lib", "PMO Workbench C kernels (loaded with ctypes)",
                                    -1, NULL};

PyMODINIT_FUNC PyInit__lib(void) { return PyModule_Create(&module); }
