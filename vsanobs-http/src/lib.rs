//! vsanobs-http (in progress).
