from stack.stackctl import main

main()
