from shiplane_sdk.ctl.main import run

run()
