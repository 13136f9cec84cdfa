fn main() {
    match karpenter_api::crds::all_yaml() {
        Ok(y) => print!("{y}"),
        Err(e) => eprintln!("{e}"),
    }
}
