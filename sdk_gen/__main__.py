from sdk_gen.cli import main

main()
