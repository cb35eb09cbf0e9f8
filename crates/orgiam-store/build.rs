// `sqlx::migrate!` embeds the migrations at compile time: a new migration file must rebuild
// the crate (what `sqlx migrate build-script` generates).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
