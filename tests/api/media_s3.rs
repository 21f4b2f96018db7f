//! S3 (moto) tests: to come.
