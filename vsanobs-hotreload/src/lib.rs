//! vsanobs-hotreload (in progress).
