deployment "d" {}
phase "p" {}
mode "m" {}
component "c" { # ERROR: Missing required argument
  command { argv = ["true"] }
}
