"""The model checker.  Some of its modules are compiled by Cython at install time;
``compiled`` says which, and routes their imports to the Python source when asked
(``COWLAB_PURE=1``) or when an extension is stale."""

from cowlab.check.compiled import install_import_hook

install_import_hook()
