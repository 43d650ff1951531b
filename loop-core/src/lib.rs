//! loop-core: switchyard's single-threaded stackless reactor (the JavaScript model).
