# ERROR: Missing phase block # ERROR: Missing mode block # ERROR: Missing component block
deployment "d" {}
