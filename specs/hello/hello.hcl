# The smallest useful spec: say hello in two regions, then once more when
# both are done.

deployment "hello" {
  default_mode = "fast"
}

phase "greet" {}

mode "fast" {
  max_parallel = 0
}

mode "one-by-one" {
  max_parallel = 1
}

component "hello" {
  phase    = "greet"
  driver   = "command"
  regions  = ["eu", "asia"]
  duration = "2s"

  command {
    argv = ["echo", "hello from ${each.region}"]
  }
}

component "done" {
  phase      = "greet"
  driver     = "command"
  depends_on = [component.hello]
  duration   = "1s"

  command {
    argv = ["echo", "all regions greeted"]
  }
}
