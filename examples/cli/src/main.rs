fn main() { println!("{}", syncwright::version()); }
