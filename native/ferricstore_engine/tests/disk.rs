use std::path::Path;

use ferricstore_engine::disk::available_space;

#[test]
fn reports_some_space_for_a_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    assert!(available_space(dir.path()).unwrap() > 0);
}

#[test]
fn a_missing_path_is_an_error() {
    assert!(available_space(Path::new("/definitely/not/here")).is_err());
}
