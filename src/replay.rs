//! `camrelay replay`: recorded posts through decode and the engine on a virtual clock.
