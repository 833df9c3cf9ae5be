from neurofacedis.cli import main

main()
