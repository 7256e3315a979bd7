from vidmm.cli import app

app(prog_name="vidmm")
