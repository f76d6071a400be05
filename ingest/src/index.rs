//! The uid→flags index of one folder and its compact stored form.
