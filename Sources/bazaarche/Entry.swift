import BazaarcheApp

// Start-up only: everything else lives in BazaarcheApp so the tests build the same application.
@main
enum Entry {
    static func main() async {
        await BazaarcheCommand.main(nil)
    }
}
